#pragma once
// The generation loop for decoder models: prefill of every prompt in one
// forward, then token-by-token decode of the still-running sequences as one
// batch, all over a paged KV cache. Stops on eos (unless ignore_eos), on stop
// strings found in the detokenized text (text is cut before the stop string; a
// cut never splits a UTF-8 character because stop strings are whole UTF-8), or
// at max_new_tokens. Text is detokenized incrementally (tok::DecodeStream) and
// streamed as soon as it is final and cannot be the start of a stop string
// (StopMatcher); the deltas concatenate to the final text.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/quantization.h"
#include "models/causal_lm.h"
#include "models/encoder_decoder.h"
#include "runtime/beam_search.h"
#include "runtime/grammar.h"
#include "runtime/prompt_images.h"
#include "runtime/sampling.h"
#include "tokenizers/tokenizer.h"

namespace ia {

class VisionPrompter;

// generation_config.json (sampling defaults, lengths, beam search and eos ids); all optional.
struct GenerationDefaults : SamplingDefaults {
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> max_new_tokens, max_length;
  std::optional<int64_t> num_beams;
  std::optional<double> length_penalty;
  std::optional<EarlyStopping> early_stopping;
  // Reads DIR/generation_config.json when present; eos ids fall back to config.json's.
  static GenerationDefaults load(const std::string& dir, const DecoderConfig& config);
};

// early_stopping as transformers takes it: "true", "false" or "never" (InvalidArgument otherwise).
EarlyStopping parse_early_stopping(const std::string& value);

// What a request asks for: sampling, plus length and stopping. Unset fields take
// generation_config.json's value, then HF's default.
struct GenerationRequest : SamplingOptions {
  std::optional<int64_t> max_new_tokens;  // default: generation_config, else 256
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool truncate_prompt = false;  // keep the last tokens of a prompt longer than the context instead of failing
  // The output must be a sentence of this grammar (response_format json_object / json_schema, a
  // forced tool call): runtime/grammar_constraint.h.
  std::shared_ptr<const grammar::Grammar> grammar;
  // A model's own logits processor (Whisper's suppress and timestamp rules), run on each row's
  // logits before the sampling controls, and in beam search on the log-probabilities as
  // transformers runs processors there. Beam search makes one per beam and step, so it must be a
  // function of the generated tokens alone. Not together with a grammar.
  ConstraintFactory logits_processor;
  // Beam search (runtime/beam_search.h) when num_beams > 1; unset: generation_config.json's, then
  // transformers' defaults (1 beam, length_penalty 1, early_stopping false).
  std::optional<int64_t> num_beams;
  std::optional<float> length_penalty;
  std::optional<EarlyStopping> early_stopping;
  // Asked between tokens (before every decode step): true ends every running sequence
  // there, finish_reason "cancelled", with the text so far (a chat's Ctrl-C).
  std::function<bool()> cancelled;
  // A request still generating at this time ends there, between tokens, with the text so far and
  // finish_reason "length" (as llama.cpp's t_max_predict_ms; the server's --request-timeout).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

struct GenerationResult {
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> ids;            // generated tokens only (an eos that stopped generation included)
  std::string text;                    // detokenized (special tokens skipped), cut before a stop string
  std::string finish_reason;           // "stop" (eos or stop string), "length" or "cancelled"
  std::vector<SampledToken> logprobs;  // per generated token, when requested
  std::vector<std::string> warnings;
  std::optional<float> beam_score;  // beam search: the hypothesis' sum logprob / length ^ length_penalty
};

struct GenerationStats {
  double prefill_ms = 0, decode_ms = 0;
  int64_t prompt_tokens = 0, decode_tokens = 0;  // decode_tokens: tokens produced by decode steps
  int64_t cached_tokens = 0;                     // prompt tokens whose K/V were already in the cache (not prefilled)
};

// A prompt made ready to run: cut to fit the context when the request allows it,
// with the number of tokens it may generate.
struct PreparedPrompt {
  std::vector<int32_t> ids;
  std::shared_ptr<const PromptImages> images;  // a vision-language prompt's image features, or null
  int64_t max_new = 0;
  std::vector<std::string> warnings;
};

// index of the prompt, text delta.
using StreamCallback = std::function<void(size_t, const std::string&)>;

class Generator {
 public:
  Generator(std::shared_ptr<const CausalLM> model, std::shared_ptr<const tok::Tokenizer> tokenizer,
            GenerationDefaults defaults)
      : model_(std::move(model)), tok_(std::move(tokenizer)), defaults_(std::move(defaults)) {}
  // An encoder-decoder (T5): each prompt is encoded once, its cross-attention K/V kept for the
  // request, and the decoder generates from decoder_start_token_id with the same loop (sampling,
  // stops, streaming) or beam search. The prompt's tokens are the encoder's input.
  Generator(std::shared_ptr<const EncoderDecoder> model, std::shared_ptr<const tok::Tokenizer> tokenizer,
            GenerationDefaults defaults);
  // Loads a model folder (config.json, safetensors, tokenizer.json, generation_config.json):
  // a causal LM or an encoder-decoder of the registry.
  // With `quantization` enabled the matrices are packed as it says (core/quantization.h);
  // Unsupported when the device's backend has no linear for those formats.
  // `kv_cache_dtype` is what its KV caches keep K/V as (--kv-cache-dtype, core/kv_quantization.h):
  // F32, or Q8Kv (int8) where the device's backend has it (Unsupported, before anything loads,
  // where not).
  static std::shared_ptr<Generator> load(const std::string& dir, Device device, DType dtype,
                                         const WeightQuantization& quantization = {},
                                         DType kv_cache_dtype = DType::F32);

  // The KV caches this generator's requests run on (and a chat session's, a batch engine's):
  // `num_blocks` blocks of `block_size` tokens in its KV cache dtype (CausalLM::make_cache).
  std::unique_ptr<KvCache> make_cache(int64_t num_blocks, int64_t block_size) const {
    return model_->make_cache(num_blocks, block_size, kv_cache_dtype_);
  }
  DType kv_cache_dtype() const { return kv_cache_dtype_; }
  // Before the generator is shared: later caches keep K/V as `dtype` (checked as load checks it).
  void set_kv_cache_dtype(DType dtype);

  // Prompts as text, tokenized exactly as tokenizer.encode(prompt) (default special tokens).
  std::vector<GenerationResult> generate(const std::vector<std::string>& prompts, const GenerationRequest& req,
                                         const StreamCallback& on_text = {}, GenerationStats* stats = nullptr) const;
  // Prompts as token ids; with `images` (a vision-language model), prompt i's image features
  // (null: none), whose positions are that prompt's image tokens (runtime/vision_prompt.h).
  std::vector<GenerationResult> generate_ids(const std::vector<std::vector<int32_t>>& prompts,
                                             const GenerationRequest& req, const StreamCallback& on_text = {},
                                             GenerationStats* stats = nullptr,
                                             const std::vector<std::shared_ptr<const PromptImages>>& images = {}) const;

  // An encoder-decoder's decoding from a cross-attention cache the caller made (Whisper: its
  // audio encoder's output; make_cross_cache), each decoder prompt (the start token and whatever
  // follows it: task and language tokens, a previous window's text) attending to encoder sequence
  // i of `cross`. The same loop, sampling, stops and beam search as generate_ids; the results'
  // ids are the tokens after each decoder prompt, prompt_ids the decoder prompt. InvalidArgument
  // for a prompt with ids outside the vocabulary or that leaves no room in the decoder's
  // positions; Unsupported for a decoder-only model.
  std::vector<GenerationResult> generate_from_cross(const CrossKvCache& cross,
                                                    const std::vector<std::vector<int32_t>>& decoder_prompts,
                                                    const GenerationRequest& req, const StreamCallback& on_text = {},
                                                    GenerationStats* stats = nullptr) const;

  // What generate_ids does to each prompt before running it: checks its ids, cuts it
  // when it does not fit the context (InvalidArgument unless req.truncate_prompt)
  // and works out max_new_tokens.
  // A prompt with images is never cut (its image tokens would lose their features): one that does
  // not fit is InvalidArgument whatever truncate_prompt says.
  PreparedPrompt prepare(std::vector<int32_t> prompt, const GenerationRequest& req,
                         std::shared_ptr<const PromptImages> images = nullptr) const;
  // The tokens a request asks to generate after a prompt of `prompt_tokens`: its
  // max_new_tokens, else generation_config.json's max_new_tokens, else what its
  // max_length leaves (at least 1), else 256. prepare() caps it at the context's end.
  int64_t requested_new_tokens(const GenerationRequest& req, int64_t prompt_tokens) const;

  // One prepared prompt on a caller-owned cache (a chat session's): sequence `seq`
  // already holds the K/V of prompt.ids[0, cache.length(seq)), which must be shorter
  // than the prompt so that its last token runs and gives logits. The rest of the
  // prompt is prefilled, then decoding goes on exactly as in generate_ids; the cache
  // needs free blocks for prompt.ids.size() + prompt.max_new tokens. On return the
  // sequence holds the prompt and every generated token but the last one, which is
  // never fed to the model: cache.length(seq) == prompt.ids.size() + ids.size() - 1.
  // Decoder-only models (Unsupported for an encoder-decoder), without beam search.
  GenerationResult generate_in(KvCache& cache, int64_t seq, const PreparedPrompt& prompt, const GenerationRequest& req,
                               const StreamCallback& on_text = {}, GenerationStats* stats = nullptr) const;

  // The causal LM, or an encoder-decoder's decoder.
  const CausalLM& model() const { return *model_; }
  // A vision-language model's prompt builder (its processor, features), or null for a text model.
  const VisionPrompter* vision() const { return vision_.get(); }
  // The encoder-decoder, or null for a decoder-only model.
  const EncoderDecoder* encoder_decoder() const { return seq2seq_.get(); }
  const tok::Tokenizer& tokenizer() const { return *tok_; }
  const GenerationDefaults& defaults() const { return defaults_; }
  // The sampling parameters a request resolves to (validated, as are its max_new_tokens
  // and stop strings; InvalidArgument when out of range).
  SamplingParams resolve(const GenerationRequest& req) const;
  // The vocabulary as a byte trie for constrained decoding, built on first use.
  std::shared_ptr<const class TokenTrie> token_trie() const;
  // The beam search a request asks for (num_beams 1: none), validated against its sampling:
  // InvalidArgument for beams with sampling, stop strings or logprobs.
  BeamSearchParams resolve_beams(const GenerationRequest& req, const SamplingParams& sampling) const;

 private:
  // The decoder's prompts and cross-attention cache of an encoder-decoder request.
  struct Encoded;
  Encoded encode(const std::vector<std::vector<int32_t>>& prompts, GenerationStats* stats) const;
  std::vector<GenerationResult> beam_generate(const std::vector<PreparedPrompt>& prompts, const GenerationRequest& req,
                                              const SamplingParams& params, const StreamCallback& on_text,
                                              GenerationStats* stats) const;
  // The best hypothesis of a beam search through the same output path as sampled tokens (text,
  // eos, length), its tokens counted in `stats`.
  GenerationResult best_beam_result(const std::vector<BeamHypothesis>& hyps, const PreparedPrompt& p,
                                    const GenerationRequest& req, const SamplingParams& params,
                                    GenerationStats& stats) const;

  mutable std::once_flag trie_once_;
  mutable std::shared_ptr<const TokenTrie> trie_;
  std::shared_ptr<const EncoderDecoder> seq2seq_;  // null: a decoder-only model
  std::shared_ptr<const VisionPrompter> vision_;   // null: not a vision-language model
  std::shared_ptr<const CausalLM> model_;
  std::shared_ptr<const tok::Tokenizer> tok_;
  GenerationDefaults defaults_;
  DType kv_cache_dtype_ = DType::F32;
};

}  // namespace ia
