#pragma once
// Speech to text behind one interface, whatever the model: a CTC model (Wav2Vec2ForCTC: the
// feature extractor's normalisation, frame-wise argmax, CTC decoding) or Whisper
// (runtime/whisper_transcription.h: generation with task and language tokens, timestamps, 30-s
// windows). The CLI's
// `transcribe` and the server's /v1/audio/transcriptions call this with audio the front end
// decoded and resampled to sampling_rate().
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace ia {

struct TranscriptionOptions {
  std::optional<std::string> language;  // ISO code ("en"); unset: detected (Whisper) or none (CTC)
  std::string task = "transcribe";      // or "translate" (to English; Whisper)
  bool timestamps = false;              // segments with start / end times
  // Generation (Whisper); a CTC model refuses values other than these defaults.
  int num_beams = 1;
  std::optional<int64_t> max_new_tokens;
  bool ignore_eos = false;
  std::optional<float> temperature;
  std::string prompt;  // text the transcript continues (Whisper's prompt_ids)
  // Streaming: the transcript's text as it becomes final, in pieces whose concatenation is
  // exactly Transcript::text. Whisper gives it token by token where a window's tokens are final
  // as they are generated (greedy or sampling without the temperature fallback, no timestamps),
  // else a window's text once the window is decided (long audio, fallback thresholds, beam
  // search); a CTC model gives its whole text at the end. Returning false stops the
  // transcription (the caller is gone; the transcript returned is then partial).
  std::function<bool(std::string_view delta)> on_text;
};

struct TranscriptSegment {
  double start = 0, end = 0;  // seconds
  std::string text;
};

struct Transcript {
  std::string text;
  // The model's ids: a CTC model's frame-wise argmax (before grouping), a generator's tokens
  // after its prefix.
  std::vector<int64_t> ids;
  std::optional<std::string> language;
  std::vector<TranscriptSegment> segments;
  double duration = 0;  // seconds of audio
};

class SpeechRecognizer {
 public:
  virtual ~SpeechRecognizer() = default;
  // The rate the model's feature extractor takes.
  virtual int sampling_rate() const = 0;
  // Mono samples at sampling_rate(). InvalidArgument for options the model cannot honour
  // (translation or timestamps from a CTC model) and for audio too short to give a frame.
  virtual Transcript transcribe(const std::vector<float>& samples, const TranscriptionOptions& options) const = 0;
  // "ctc" or "whisper".
  virtual std::string kind() const = 0;
  // Whether transcribe() can give timed segments (TranscriptionOptions::timestamps): a Whisper
  // model whose vocabulary has timestamp tokens.
  virtual bool gives_timestamps() const { return false; }

  // A speech model folder as a user has it; Unsupported when its model does not do speech
  // recognition in this build.
  static std::shared_ptr<const SpeechRecognizer> load(const std::string& dir, Device device, DType dtype);
};

}  // namespace ia
