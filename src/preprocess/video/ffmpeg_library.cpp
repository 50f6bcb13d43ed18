#include "preprocess/video/ffmpeg_library.h"

#include <dlfcn.h>

#include <string>

#include <fmt/format.h>

#include "core/error.h"

namespace ia::video {

namespace {

#define IA_STR2(x) #x
#define IA_STR(x) IA_STR2(x)
// Each function comes from the library its header belongs to.
struct Sonames {
  const char* avutil = "libavutil.so." IA_STR(LIBAVUTIL_VERSION_MAJOR);
  const char* avcodec = "libavcodec.so." IA_STR(LIBAVCODEC_VERSION_MAJOR);
  const char* avformat = "libavformat.so." IA_STR(LIBAVFORMAT_VERSION_MAJOR);
  const char* swscale = "libswscale.so." IA_STR(LIBSWSCALE_VERSION_MAJOR);
};

struct Loaded {
  FfmpegLibrary functions;
  std::string error;  // empty when every function resolved
};

Loaded load() {
  Loaded out;
  const Sonames names;
  const std::string packages =
      fmt::format("{}, {}, {}, {}", names.avformat, names.avcodec, names.swscale, names.avutil);
  void* handles[4] = {};
  const char* order[4] = {names.avutil, names.avcodec, names.avformat, names.swscale};
  for (int i = 0; i < 4; ++i) {
    handles[i] = dlopen(order[i], RTLD_NOW | RTLD_LOCAL);
    if (!handles[i]) {
      const char* e = dlerror();
      out.error = fmt::format(
          "video decoding needs FFmpeg's libraries ({}): {} (on Debian: apt install libavformat59 libswscale6; "
          "or pass a folder of frame images)",
          packages, e ? e : order[i]);
      return out;
    }
  }
  // dlsym over the four handles: a symbol is looked up where its library put it.
  auto find = [&](const char* symbol) -> void* {
    for (void* h : handles)
      if (void* p = dlsym(h, symbol)) return p;
    return nullptr;
  };
#define IA_FFMPEG_RESOLVE(name)                                                                  \
  out.functions.name = reinterpret_cast<decltype(out.functions.name)>(find(#name));              \
  if (!out.functions.name) {                                                                     \
    out.error = fmt::format("video decoding: FFmpeg's libraries ({}) lack {}", packages, #name); \
    return out;                                                                                  \
  }
  IA_FFMPEG_FUNCTIONS(IA_FFMPEG_RESOLVE)
#undef IA_FFMPEG_RESOLVE
  return out;
}

}  // namespace

const FfmpegLibrary& ffmpeg_library() {
  static const Loaded loaded = load();  // the handles stay open for the process
  if (!loaded.error.empty()) throw Error(ErrorKind::Unavailable, loaded.error);
  return loaded.functions;
}

}  // namespace ia::video
