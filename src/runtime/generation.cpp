#include "runtime/generation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <random>

#include "core/error.h"
#include "core/logging.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "runtime/grammar_constraint.h"
#include "runtime/sequence_output.h"
#include "runtime/step_builder.h"
#include "runtime/step_runner.h"
#include "runtime/vision_prompt.h"

namespace ia {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

constexpr int64_t kDefaultMaxNewTokens = 256;
constexpr int64_t kBlockSize = 16;

// Per-sequence state of a running generation.
struct SeqState {
  int64_t cache_seq = 0;
  int64_t cross = -1;  // encoder-decoders: its encoder sequence in the request's cross cache
  std::vector<int32_t> prompt;
  std::shared_ptr<const PromptImages> images;  // a vision-language prompt's image features
  int64_t max_new = 0;
  std::unique_ptr<Sampler> sampler;
  std::optional<SequenceOutput> out;  // generated ids, their text, and when the sequence ends
  GenerationResult result;
};

}  // namespace

GenerationDefaults GenerationDefaults::load(const std::string& dir, const DecoderConfig& config) {
  GenerationDefaults d;
  d.eos_token_ids = config.eos_token_ids;
  const auto path = std::filesystem::path(dir) / "generation_config.json";
  if (!std::filesystem::exists(path)) return d;
  HfConfig g = HfConfig::load_file(path.string());
  if (g.has("eos_token_id")) d.eos_token_ids = parse_token_id_list(g, "eos_token_id");
  d.do_sample = g.opt_bool("do_sample");
  d.temperature = g.opt_float("temperature");
  d.top_p = g.opt_float("top_p");
  d.min_p = g.opt_float("min_p");
  d.repetition_penalty = g.opt_float("repetition_penalty");
  d.top_k = g.opt_int("top_k");
  d.max_new_tokens = g.opt_int("max_new_tokens");
  d.max_length = g.opt_int("max_length");
  d.no_repeat_ngram_size = g.opt_int("no_repeat_ngram_size");
  d.num_beams = g.opt_int("num_beams");
  d.length_penalty = g.opt_float("length_penalty");
  if (g.has("early_stopping")) {
    if (auto b = g.json().at("early_stopping"); b.is_boolean()) {
      d.early_stopping = b.get<bool>() ? EarlyStopping::Done : EarlyStopping::Heuristic;
    } else {
      d.early_stopping = parse_early_stopping(g.get_string("early_stopping", "false"));
    }
  }
  return d;
}

EarlyStopping parse_early_stopping(const std::string& value) {
  if (value == "true" || value == "True") return EarlyStopping::Done;
  if (value == "false" || value == "False") return EarlyStopping::Heuristic;
  if (value == "never") return EarlyStopping::Never;
  fail(ErrorKind::InvalidArgument, "early_stopping must be true, false or never, got \"{}\"", value);
}

Generator::Generator(std::shared_ptr<const EncoderDecoder> model, std::shared_ptr<const tok::Tokenizer> tokenizer,
                     GenerationDefaults defaults)
    : seq2seq_(std::move(model)),
      model_(seq2seq_, &seq2seq_->decoder()),
      tok_(std::move(tokenizer)),
      defaults_(std::move(defaults)) {}

std::shared_ptr<Generator> Generator::load(const std::string& dir, Device device, DType dtype,
                                           const WeightQuantization& quantization, DType kv_cache_dtype) {
  HfConfig config = HfConfig::load(dir);
  const ModelKind kind = classify_model(config.json(), config.path());
  require_text_generator(kind, dir);  // before anything is opened
  require_kv_cache_dtype(device, kv_cache_dtype);
  auto weights = WeightStore::open(dir);
  weights->set_quantization(quantization);
  require_packed_linears(*weights, device);
  if (has_encoder_decoder(kind)) {
    std::shared_ptr<const EncoderDecoder> model = load_encoder_decoder(config, *weights, dtype, device);
    auto tok = tok::Tokenizer::from_folder(dir);
    auto gen = std::make_shared<Generator>(model, tok, GenerationDefaults::load(dir, model->decoder().config()));
    gen->kv_cache_dtype_ = kv_cache_dtype;
    return gen;
  }
  std::shared_ptr<const CausalLM> model = load_causal_lm(config, *weights, dtype, device);
  auto tok = tok::Tokenizer::from_folder(dir);
  auto gen = std::make_shared<Generator>(model, tok, GenerationDefaults::load(dir, model->config()));
  if (auto vl = std::dynamic_pointer_cast<const VisionLanguage>(model))
    gen->vision_ = VisionPrompter::load(dir, vl, tok);
  gen->kv_cache_dtype_ = kv_cache_dtype;
  return gen;
}

void Generator::set_kv_cache_dtype(DType dtype) {
  require_kv_cache_dtype(model_->device(), dtype);
  kv_cache_dtype_ = dtype;
}

std::shared_ptr<const TokenTrie> Generator::token_trie() const {
  std::call_once(trie_once_, [this] { trie_ = std::make_shared<const TokenTrie>(*tok_); });
  return trie_;
}

SamplingParams Generator::resolve(const GenerationRequest& req) const {
  SamplingParams p = resolve_sampling(req, defaults_);
  if (req.max_new_tokens && *req.max_new_tokens <= 0)
    fail(ErrorKind::InvalidArgument, "max_new_tokens must be > 0, got {}", *req.max_new_tokens);
  if (req.max_new_tokens && p.min_tokens > *req.max_new_tokens)
    fail(ErrorKind::InvalidArgument, "min_tokens ({}) must not exceed max_new_tokens ({})", p.min_tokens,
         *req.max_new_tokens);
  // vLLM's min_tokens holds back the tokens that would end the output: eos, unless it does not end it.
  if (p.min_tokens > 0 && !req.ignore_eos) p.min_tokens_suppress = defaults_.eos_token_ids;
  if (req.grammar && req.logits_processor)
    fail(ErrorKind::InvalidArgument, "a grammar and a model's logits processor cannot constrain one output together");
  if (req.grammar) p.constraint = grammar_constraint_factory(req.grammar, token_trie(), defaults_.eos_token_ids);
  if (req.logits_processor) p.constraint = req.logits_processor;
  for (const auto& s : req.stop)
    if (s.empty()) fail(ErrorKind::InvalidArgument, "stop strings must not be empty");
  return p;
}

std::vector<GenerationResult> Generator::generate(const std::vector<std::string>& prompts, const GenerationRequest& req,
                                                  const StreamCallback& on_text, GenerationStats* stats) const {
  std::vector<std::vector<int32_t>> ids;
  for (const auto& p : prompts) ids.push_back(tok_->encode(p).ids);
  return generate_ids(ids, req, on_text, stats);
}

namespace {

// The generation loop over sequences whose prompts' first `cached` tokens are already in
// the cache: one prefill forward of the rest of every prompt, then batched decode. An
// encoder-decoder's decoder steps carry `cross`, each sequence its SeqState::cross.
void run(const Generator& gen, KvCache& cache, std::vector<SeqState>& seqs, const GenerationRequest& req,
         const SamplingParams& params, const StreamCallback& on_text, GenerationStats* stats,
         const CrossKvCache* cross = nullptr) {
  const tok::Tokenizer& tok = gen.tokenizer();
  // A grammar decides where a constrained output ends (it allows eos only there): ignore_eos does not apply.
  const std::vector<int64_t> eos =
      req.ignore_eos && !req.grammar ? std::vector<int64_t>{} : gen.defaults().eos_token_ids;
  for (auto& s : seqs) s.out.emplace(tok, req.stop, eos, s.max_new, params.min_tokens);
  // Streams the text a token (or the end) made final; records how the sequence ended.
  auto emit = [&](size_t i, const std::string& delta) {
    SeqState& s = seqs[i];
    s.result.text += delta;
    if (s.out->finished()) s.result.finish_reason = s.out->finish_reason();
    if (on_text && !delta.empty()) on_text(i, delta);
  };
  auto accept = [&](size_t i, const SampledToken& t) {
    if (params.logprobs >= 0) seqs[i].result.logprobs.push_back(t);
    emit(i, seqs[i].out->accept(t.id));
  };

  CausalStepRunner model(gen.model());
  model.set_cross_cache(cross);
  GenerationStats st;
  auto t0 = Clock::now();
  std::vector<SeqChunk> chunks;
  for (auto& s : seqs) {
    const auto cached = static_cast<size_t>(cache.length(s.cache_seq));
    IA_CHECK(cached < s.prompt.size(), "generation: sequence holds {} of a {}-token prompt", cached, s.prompt.size());
    chunks.push_back(
        SeqChunk{s.cache_seq, std::span<const int32_t>(s.prompt).subspan(cached), s.cross, s.images.get()});
    if (!cross) st.prompt_tokens += static_cast<int64_t>(s.prompt.size());
    st.cached_tokens += static_cast<int64_t>(cached);
  }
  std::vector<size_t> rows(seqs.size());
  for (size_t i = 0; i < seqs.size(); ++i) rows[i] = i;
  // Each row's token is drawn on the model's device where the sampling allows it (only ids or a
  // few candidates cross to the host): CausalStepRunner::step_and_sample.
  auto step_and_sample = [&] {
    std::vector<CausalStepRunner::RowSampler> samplers;
    for (size_t r : rows) samplers.push_back({seqs[r].sampler.get(), &seqs[r].prompt, &seqs[r].out->ids()});
    const std::vector<SampledToken> tokens = model.step_and_sample(chunks, cache, samplers);
    for (size_t r = 0; r < rows.size(); ++r) accept(rows[r], tokens[r]);
  };
  step_and_sample();
  st.prefill_ms = ms_since(t0);
  auto t1 = Clock::now();
  for (;;) {
    if (req.cancelled && req.cancelled()) {
      for (size_t i = 0; i < seqs.size(); ++i)
        if (!seqs[i].out->finished()) emit(i, seqs[i].out->finish("cancelled"));
    }
    if (req.deadline && Clock::now() >= *req.deadline) {
      for (size_t i = 0; i < seqs.size(); ++i)
        if (!seqs[i].out->finished()) emit(i, seqs[i].out->finish("length"));
    }
    chunks.clear();
    rows.clear();
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (seqs[i].out->finished()) continue;
      rows.push_back(i);
      chunks.push_back(
          SeqChunk{seqs[i].cache_seq, std::span<const int32_t>(&seqs[i].out->ids().back(), 1), seqs[i].cross});
    }
    if (chunks.empty()) break;
    st.decode_tokens += static_cast<int64_t>(chunks.size());
    step_and_sample();
  }
  st.decode_ms = ms_since(t1);
  if (stats) *stats = st;
  for (auto& s : seqs) s.result.ids = s.out->ids();
}

}  // namespace

int64_t Generator::requested_new_tokens(const GenerationRequest& req, int64_t prompt_tokens) const {
  return req.max_new_tokens.value_or(defaults_.max_new_tokens.value_or(
      defaults_.max_length ? std::max<int64_t>(1, *defaults_.max_length - prompt_tokens) : kDefaultMaxNewTokens));
}

PreparedPrompt Generator::prepare(std::vector<int32_t> prompt, const GenerationRequest& req,
                                  std::shared_ptr<const PromptImages> images) const {
  const DecoderConfig& cfg = model_->config();
  const int64_t ctx = cfg.max_positions;
  PreparedPrompt p;
  p.ids = std::move(prompt);
  if (p.ids.empty()) fail(ErrorKind::InvalidArgument, "prompt is empty (no tokens)");
  if (images) {
    if (seq2seq_) fail(ErrorKind::Unsupported, "an encoder-decoder model takes no images");
    if (static_cast<int64_t>(p.ids.size()) >= ctx)
      fail(ErrorKind::InvalidArgument,
           "prompt of {} tokens (its images included) does not fit the model's context of {} tokens; a prompt with "
           "images is never truncated",
           p.ids.size(), ctx);
    p.images = std::move(images);
  }
  if (seq2seq_) {
    // The prompt is the encoder's input; the decoder starts from its start token (which
    // generation_config's max_length counts, as transformers does).
    const Encoder& enc = seq2seq_->encoder();
    for (int32_t id : p.ids)
      if (id < 0 || id >= enc.vocab_size())
        fail(ErrorKind::InvalidArgument, "prompt token id {} is outside the vocabulary of {}", id, enc.vocab_size());
    const auto plen = static_cast<int64_t>(p.ids.size());
    if (plen > enc.max_input_tokens()) {
      if (!req.truncate_prompt)
        fail(ErrorKind::InvalidArgument,
             "prompt of {} tokens is longer than the encoder's limit of {} tokens (ask for truncation)", plen,
             enc.max_input_tokens());
      p.ids.erase(p.ids.begin(), p.ids.end() - enc.max_input_tokens());
      p.warnings.push_back(fmt::format("prompt truncated from {} to its last {} tokens", plen, enc.max_input_tokens()));
    }
    p.max_new = std::min<int64_t>(requested_new_tokens(req, 1), ctx - 1);
    return p;
  }
  for (int32_t id : p.ids)
    if (id < 0 || id >= cfg.vocab_size)
      fail(ErrorKind::InvalidArgument, "prompt token id {} is outside the vocabulary of {}", id, cfg.vocab_size);
  const int64_t want = requested_new_tokens(req, static_cast<int64_t>(p.ids.size()));
  const auto plen = static_cast<int64_t>(p.ids.size());
  if (plen >= ctx) {
    if (!req.truncate_prompt)
      fail(ErrorKind::InvalidArgument,
           "prompt of {} tokens does not fit the model's context of {} tokens (ask for truncation)", plen, ctx);
    const int64_t keep = std::max<int64_t>(1, ctx - std::min(want, ctx / 2));
    p.ids.erase(p.ids.begin(), p.ids.end() - keep);
    p.warnings.push_back(fmt::format("prompt truncated from {} to its last {} tokens", plen, keep));
  }
  p.max_new = std::min<int64_t>(want, ctx - static_cast<int64_t>(p.ids.size()));
  return p;
}

struct Generator::Encoded {
  CrossKvCache cross;
};

Generator::Encoded Generator::encode(const std::vector<std::vector<int32_t>>& prompts, GenerationStats* stats) const {
  const auto t0 = Clock::now();
  const Encoder& enc = seq2seq_->encoder();
  std::vector<std::span<const int32_t>> spans;
  std::vector<int64_t> starts{0};
  for (const auto& p : prompts) {
    spans.emplace_back(p);
    starts.push_back(starts.back() + static_cast<int64_t>(p.size()));
  }
  StepBuilder builder(enc.device());
  const StepInputs step = builder.encoder_step(spans, {}, enc.vocab_size());
  Encoded e;
  e.cross = seq2seq_->make_cross_cache(enc.forward(step).last_hidden_state, std::move(starts));
  if (stats) {
    stats->prefill_ms += ms_since(t0);
    stats->prompt_tokens += step.num_tokens;
  }
  return e;
}

BeamSearchParams Generator::resolve_beams(const GenerationRequest& req, const SamplingParams& sampling) const {
  BeamSearchParams b;
  b.num_beams = req.num_beams.value_or(defaults_.num_beams.value_or(1));
  b.length_penalty = req.length_penalty.value_or(static_cast<float>(defaults_.length_penalty.value_or(1.0)));
  b.early_stopping = req.early_stopping.value_or(defaults_.early_stopping.value_or(EarlyStopping::Heuristic));
  if (b.num_beams < 1 || b.num_beams > kMaxBeams)
    fail(ErrorKind::InvalidArgument, "num_beams must be between 1 and {}, got {}", kMaxBeams, b.num_beams);
  if (!std::isfinite(b.length_penalty))
    fail(ErrorKind::InvalidArgument, "length_penalty must be a finite number, got {}", b.length_penalty);
  if (b.num_beams > 1) {
    if (!sampling.greedy && sampling.temperature != 0)
      fail(ErrorKind::InvalidArgument,
           "num_beams > 1 runs beam search, which does not sample: use temperature 0 (beam sampling is not "
           "supported)");
    if (!req.stop.empty()) fail(ErrorKind::InvalidArgument, "stop strings are not supported with num_beams > 1");
    if (sampling.logprobs >= 0) fail(ErrorKind::InvalidArgument, "logprobs are not supported with num_beams > 1");
    if (req.grammar)
      fail(ErrorKind::InvalidArgument, "a grammar (response_format, tools) is not supported with num_beams > 1");
  }
  b.processors = sampling;
  if (!req.ignore_eos) b.eos_token_ids = defaults_.eos_token_ids;
  return b;
}

std::vector<GenerationResult> Generator::generate_ids(
    const std::vector<std::vector<int32_t>>& prompts, const GenerationRequest& req, const StreamCallback& on_text,
    GenerationStats* stats, const std::vector<std::shared_ptr<const PromptImages>>& images) const {
  const SamplingParams params = resolve(req);
  IA_CHECK(images.empty() || images.size() == prompts.size(), "generation: {} image sets for {} prompts", images.size(),
           prompts.size());
  const BeamSearchParams beams = resolve_beams(req, params);
  if (prompts.empty()) return {};
  const uint64_t seed = req.seed ? *req.seed : std::random_device{}();

  std::vector<PreparedPrompt> prepared;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) fail(ErrorKind::InvalidArgument, "prompt {} is empty (no tokens)", i);
    prepared.push_back(prepare(prompts[i], req, images.empty() ? nullptr : images[i]));
  }
  if (beams.num_beams > 1) {
    for (const auto& p : prepared)
      if (p.images) fail(ErrorKind::Unsupported, "beam search with images is not supported (num_beams must be 1)");
    return beam_generate(prepared, req, params, on_text, stats);
  }

  std::vector<SeqState> seqs(prompts.size());
  int64_t blocks = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    SeqState& s = seqs[i];
    PreparedPrompt& p = prepared[i];
    s.result.prompt_ids = p.ids;
    // An encoder-decoder's decoder starts from its start token and attends to encoder sequence i.
    s.prompt =
        seq2seq_ ? std::vector<int32_t>{static_cast<int32_t>(seq2seq_->decoder_start_token_id())} : std::move(p.ids);
    if (seq2seq_) s.cross = static_cast<int64_t>(i);
    s.max_new = p.max_new;
    s.images = p.images;
    s.result.warnings = std::move(p.warnings);
    s.sampler = std::make_unique<Sampler>(params, seed);
    blocks += (static_cast<int64_t>(s.prompt.size()) + s.max_new + kBlockSize - 1) / kBlockSize;
  }
  GenerationStats encoding, st;
  std::optional<Encoded> encoded;
  if (seq2seq_) {
    std::vector<std::vector<int32_t>> encoder_inputs;
    for (const auto& s : seqs) encoder_inputs.push_back(s.result.prompt_ids);
    encoded.emplace(encode(encoder_inputs, &encoding));
  }
  auto cache = make_cache(blocks, kBlockSize);
  for (auto& s : seqs) s.cache_seq = cache->create_sequence();
  run(*this, *cache, seqs, req, params, on_text, &st, encoded ? &encoded->cross : nullptr);
  // An encoder-decoder's prompt tokens are the encoder's; its prefill includes the encoder.
  st.prefill_ms += encoding.prefill_ms;
  st.prompt_tokens += encoding.prompt_tokens;
  if (stats) *stats = st;
  std::vector<GenerationResult> out;
  for (auto& s : seqs) out.push_back(std::move(s.result));
  return out;
}

std::vector<GenerationResult> Generator::generate_from_cross(const CrossKvCache& cross,
                                                             const std::vector<std::vector<int32_t>>& decoder_prompts,
                                                             const GenerationRequest& req,
                                                             const StreamCallback& on_text,
                                                             GenerationStats* stats) const {
  if (!seq2seq_) fail(ErrorKind::Unsupported, "a decoder-only model has no cross-attention to decode from");
  const SamplingParams params = resolve(req);
  const BeamSearchParams beams = resolve_beams(req, params);
  if (decoder_prompts.empty()) return {};
  IA_CHECK(static_cast<int64_t>(decoder_prompts.size()) <= cross.sequences(),
           "generation: {} decoder prompts for {} encoder sequences", decoder_prompts.size(), cross.sequences());
  const DecoderConfig& cfg = model_->config();
  std::vector<PreparedPrompt> prepared;
  for (size_t i = 0; i < decoder_prompts.size(); ++i) {
    PreparedPrompt p;
    p.ids = decoder_prompts[i];
    const auto plen = static_cast<int64_t>(p.ids.size());
    if (plen == 0) fail(ErrorKind::InvalidArgument, "decoder prompt {} is empty (no tokens)", i);
    for (int32_t id : p.ids)
      if (id < 0 || id >= cfg.vocab_size)
        fail(ErrorKind::InvalidArgument, "decoder prompt token id {} is outside the vocabulary of {}", id,
             cfg.vocab_size);
    if (plen >= cfg.max_positions)
      fail(ErrorKind::InvalidArgument, "a decoder prompt of {} tokens leaves no room in the decoder's {} positions",
           plen, cfg.max_positions);
    p.max_new = std::min<int64_t>(requested_new_tokens(req, plen), cfg.max_positions - plen);
    prepared.push_back(std::move(p));
  }
  GenerationStats st;
  std::vector<GenerationResult> out;
  if (beams.num_beams > 1) {
    CausalStepRunner runner(*model_);
    runner.set_cross_cache(&cross);
    const auto t0 = Clock::now();
    for (size_t i = 0; i < prepared.size(); ++i) {
      const PreparedPrompt& p = prepared[i];
      BeamSearchParams bp = beams;
      bp.max_new_tokens = p.max_new;
      auto cache = make_cache(beam_search_blocks(bp, static_cast<int64_t>(p.ids.size()), kBlockSize), kBlockSize);
      const std::vector<BeamHypothesis> hyps =
          beam_search(runner, *cache, p.ids, static_cast<int64_t>(i), cfg.vocab_size, bp);
      GenerationResult r = best_beam_result(hyps, p, req, params, st);
      if (on_text && !r.text.empty()) on_text(i, r.text);
      out.push_back(std::move(r));
    }
    st.decode_ms = ms_since(t0);
    if (stats) *stats = st;
    return out;
  }
  const uint64_t seed = req.seed ? *req.seed : std::random_device{}();
  std::vector<SeqState> seqs(prepared.size());
  int64_t blocks = 0;
  for (size_t i = 0; i < prepared.size(); ++i) {
    SeqState& s = seqs[i];
    s.result.prompt_ids = prepared[i].ids;
    s.prompt = prepared[i].ids;
    s.cross = static_cast<int64_t>(i);
    s.max_new = prepared[i].max_new;
    s.sampler = std::make_unique<Sampler>(params, seed + i);
    blocks += (static_cast<int64_t>(s.prompt.size()) + s.max_new + kBlockSize - 1) / kBlockSize;
  }
  auto cache = make_cache(blocks, kBlockSize);
  for (auto& s : seqs) s.cache_seq = cache->create_sequence();
  run(*this, *cache, seqs, req, params, on_text, &st, &cross);
  if (stats) *stats = st;
  for (auto& s : seqs) out.push_back(std::move(s.result));
  return out;
}

std::vector<GenerationResult> Generator::beam_generate(const std::vector<PreparedPrompt>& prompts,
                                                       const GenerationRequest& req, const SamplingParams& params,
                                                       const StreamCallback& on_text, GenerationStats* stats) const {
  GenerationStats st;
  std::vector<GenerationResult> out;
  CausalStepRunner runner(*model_);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const PreparedPrompt& p = prompts[i];
    BeamSearchParams bp = resolve_beams(req, params);
    bp.max_new_tokens = p.max_new;
    // One prompt at a time: an encoder-decoder encodes it alone, its decoder starts from the start token.
    std::optional<Encoded> encoded;
    std::vector<int32_t> decoder_prompt = p.ids;
    int64_t cross = -1;
    if (seq2seq_) {
      encoded.emplace(encode({p.ids}, &st));
      runner.set_cross_cache(&encoded->cross);
      decoder_prompt = {static_cast<int32_t>(seq2seq_->decoder_start_token_id())};
      cross = 0;
    } else {
      st.prompt_tokens += static_cast<int64_t>(p.ids.size());
    }
    const auto t0 = Clock::now();
    auto cache =
        make_cache(beam_search_blocks(bp, static_cast<int64_t>(decoder_prompt.size()), kBlockSize), kBlockSize);
    const std::vector<BeamHypothesis> hyps =
        beam_search(runner, *cache, decoder_prompt, cross, model_->config().vocab_size, bp);
    runner.set_cross_cache(nullptr);
    st.decode_ms += ms_since(t0);
    GenerationResult r = best_beam_result(hyps, p, req, params, st);
    r.warnings = p.warnings;
    if (on_text && !r.text.empty()) on_text(i, r.text);
    out.push_back(std::move(r));
  }
  if (stats) *stats = st;
  return out;
}

GenerationResult Generator::best_beam_result(const std::vector<BeamHypothesis>& hyps, const PreparedPrompt& p,
                                             const GenerationRequest& req, const SamplingParams& params,
                                             GenerationStats& stats) const {
  IA_CHECK(!hyps.empty(), "beam search finished no hypothesis");
  GenerationResult r;
  r.prompt_ids = p.ids;
  r.beam_score = hyps[0].score;
  SequenceOutput output(*tok_, {}, req.ignore_eos ? std::vector<int64_t>{} : defaults_.eos_token_ids, p.max_new,
                        params.min_tokens);
  for (int32_t id : hyps[0].ids) {
    if (output.finished()) break;
    r.text += output.accept(id);
  }
  if (!output.finished()) r.text += output.finish("length");
  r.ids = output.ids();
  r.finish_reason = output.finish_reason();
  stats.decode_tokens += static_cast<int64_t>(r.ids.size());
  return r;
}

GenerationResult Generator::generate_in(KvCache& cache, int64_t seq, const PreparedPrompt& prompt,
                                        const GenerationRequest& req, const StreamCallback& on_text,
                                        GenerationStats* stats) const {
  if (seq2seq_)
    fail(ErrorKind::Unsupported, "an encoder-decoder model has no conversation cache to continue (use generate)");
  const SamplingParams params = resolve(req);
  if (resolve_beams(req, params).num_beams > 1)
    fail(ErrorKind::Unsupported, "beam search is not supported in a conversation (num_beams must be 1)");
  if (prompt.ids.empty()) fail(ErrorKind::InvalidArgument, "prompt is empty (no tokens)");
  IA_CHECK(prompt.max_new > 0, "generation: a prepared prompt may generate {} tokens", prompt.max_new);
  std::vector<SeqState> seqs(1);
  SeqState& s = seqs[0];
  s.cache_seq = seq;
  s.prompt = prompt.ids;
  s.images = prompt.images;
  s.max_new = prompt.max_new;
  s.result.warnings = prompt.warnings;
  s.sampler = std::make_unique<Sampler>(params, req.seed ? *req.seed : std::random_device{}());
  s.result.prompt_ids = s.prompt;
  run(*this, cache, seqs, req, params, on_text, stats);
  return std::move(s.result);
}

}  // namespace ia
