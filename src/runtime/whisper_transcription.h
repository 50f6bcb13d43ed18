#pragma once
// Speech recognition with Whisper (WhisperForConditionalGeneration), as transformers'
// WhisperGenerationMixin.generate runs it:
//   1. the log-mel features of the clip (preprocess/audio WhisperFeatureExtractor): up to 30 s one
//      padded window ("short-form"), longer the whole clip in sequential 30-s windows;
//   2. the decoder prompt: [<|startofprev|> + prompt tokens] <|startoftranscript|>, the language
//      (given, or detected on the first window: the most likely language token after the start
//      token), the task, and <|notimestamps|> unless timestamps are asked for;
//   3. generation through the runtime's loop (runtime/generation.h: greedy, sampling, beam search)
//      with Whisper's logits rules (runtime/whisper_decoding.h);
//   4. each window cut at its timestamps into segments; the next window starts at the last
//      complete timestamp (or after the window when the speech ended in it);
//   5. with thresholds in generation_config.json (compression_ratio_threshold, logprob_threshold),
//      a window whose output is too repetitive or too unlikely is decoded again at the next
//      temperature (the request's, then +0.2 up to 1.0); with no_speech_threshold too, a window
//      whose <|nospeech|> probability is above it and whose output is unlikely is skipped.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "formats/hf_config.h"
#include "runtime/speech_recognizer.h"
#include "tokenizers/tokenizer.h"

namespace ia {

// What the decoding needs of generation_config.json, with the tokenizer's special tokens where an
// older folder's generation_config.json lacks them (the way openai/whisper finds them by name).
struct WhisperGenerationConfig {
  int32_t decoder_start_token_id = 0;
  int32_t eos_token_id = 0;
  std::map<std::string, int32_t> lang_to_id;  // "<|en|>" -> id; empty: an English-only model
  std::map<std::string, int32_t> task_to_id;  // "transcribe", "translate"
  std::optional<int32_t> no_timestamps_token_id, prev_sot_token_id;
  // The first timestamp token (<|0.00|>): no_timestamps_token_id + 1 when generation_config.json
  // names no_timestamps_token_id (as transformers reads it), else when the tokenizer's token there
  // is <|0.00|>; unset: the model gives no timestamps.
  std::optional<int32_t> timestamp_begin;
  std::vector<int32_t> suppress_tokens, begin_suppress_tokens;
  // forced_decoder_ids: [position, id or null] after the start token (older configs' language and task).
  std::vector<std::pair<int64_t, std::optional<int32_t>>> forced_decoder_ids;
  std::optional<int64_t> max_initial_timestamp_index;
  std::optional<bool> is_multilingual;
  std::optional<double> compression_ratio_threshold, logprob_threshold, no_speech_threshold;
  bool condition_on_prev_tokens = false;

  // Whether the vocabulary has timestamp tokens.
  bool has_timestamps(int64_t vocab) const { return timestamp_begin && *timestamp_begin < vocab; }

  // config.json, then generation_config.json over it (when present), then the tokenizer's special
  // tokens for what neither names. Corrupt for malformed values.
  static WhisperGenerationConfig load(const std::string& dir, const HfConfig& config, const tok::Tokenizer& tokenizer);
};

// The decoder prompt transformers builds (_retrieve_init_tokens) for a language token (nullopt:
// none, e.g. to be detected first), a task and whether timestamps are wanted.
std::vector<int32_t> whisper_init_tokens(const WhisperGenerationConfig& gc, std::optional<int32_t> language_id,
                                         const std::string& task, bool timestamps);

// A Whisper model folder behind the SpeechRecognizer interface (config.json, safetensors,
// tokenizer.json, generation_config.json, preprocessor_config.json / processor_config.json).
std::shared_ptr<const SpeechRecognizer> load_whisper_recognizer(const std::string& dir, Device device, DType dtype);

}  // namespace ia
