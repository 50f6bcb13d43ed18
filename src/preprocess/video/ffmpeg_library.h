#pragma once
// FFmpeg's libraries (libavformat, libavcodec, libswscale, libavutil), loaded at run time on the
// first video decoded, as the CUDA backend is: the binary and the library start and run every
// other model on a machine without them (a GPU machine's bundle, a slim container), and a video
// there is refused with one line saying what to install. The sonames are those of the headers
// built against, so the structures read are the ones the libraries write.
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

// X(function) for every FFmpeg function the video decoder calls.
// clang-format off
#define IA_FFMPEG_FUNCTIONS(X) \
  X(av_strerror) \
  X(av_malloc) \
  X(av_free) \
  X(av_freep) \
  X(av_strdup) \
  X(av_log_set_level) \
  X(av_frame_alloc) \
  X(av_frame_free) \
  X(av_frame_unref) \
  X(av_get_pix_fmt_name) \
  X(avio_alloc_context) \
  X(avio_context_free) \
  X(avformat_alloc_context) \
  X(avformat_open_input) \
  X(avformat_find_stream_info) \
  X(av_find_best_stream) \
  X(av_read_frame) \
  X(avformat_close_input) \
  X(avcodec_get_name) \
  X(avcodec_alloc_context3) \
  X(avcodec_parameters_to_context) \
  X(avcodec_open2) \
  X(avcodec_free_context) \
  X(av_packet_alloc) \
  X(av_packet_free) \
  X(av_packet_unref) \
  X(avcodec_send_packet) \
  X(avcodec_receive_frame) \
  X(sws_getCachedContext) \
  X(sws_freeContext) \
  X(sws_setColorspaceDetails) \
  X(sws_getCoefficients) \
  X(sws_scale)
// clang-format on

namespace ia::video {

struct FfmpegLibrary {
#define IA_FFMPEG_POINTER(name) decltype(&::name) name = nullptr;
  IA_FFMPEG_FUNCTIONS(IA_FFMPEG_POINTER)
#undef IA_FFMPEG_POINTER
};

// The loaded functions; loads on the first call (once per process). Throws Error(Unavailable)
// naming the missing library and the Debian packages that hold it.
const FfmpegLibrary& ffmpeg_library();

}  // namespace ia::video
