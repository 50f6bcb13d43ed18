#include "runtime/whisper_transcription.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "ops/ops.h"
#include "preprocess/audio/whisper_features.h"
#include "runtime/generation.h"
#include "runtime/step_runner.h"
#include "runtime/whisper_decoding.h"
#include "runtime/whisper_languages.h"
#include "tokenizers/decode_stream.h"

namespace ia {

namespace {

const nlohmann::json* find(const HfConfig& cfg, const char* key) {
  const nlohmann::json& j = cfg.json();
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

// The transcript's text streamed as it becomes final (TranscriptionOptions::on_text): the text
// tokens of the final token sequence, in order, through the incremental detokenizer, so the
// pieces join to exactly what text_of() gives for the whole sequence.
class TextEmitter {
 public:
  TextEmitter(const tok::Tokenizer& tokenizer, int64_t text_below, std::function<bool(std::string_view)> out)
      : detok_(tokenizer, /*skip_special_tokens=*/true), text_below_(text_below), out_(std::move(out)) {}
  bool active() const { return static_cast<bool>(out_); }
  bool stopped() const { return stopped_; }
  void feed(int32_t id) {
    if (active() && !stopped_ && id < text_below_) emit(detok_.step(id));
  }
  void finish() {
    if (active() && !stopped_) emit(detok_.flush());
  }

 private:
  void emit(const std::string& text) {
    if (!text.empty() && !out_(text)) stopped_ = true;
  }
  tok::DecodeStream detok_;
  int64_t text_below_;  // timestamps (and above) are not text
  std::function<bool(std::string_view)> out_;
  bool stopped_ = false;
};

// A logits processor that also sees a window's tokens as they are generated: it is asked before
// every step with the tokens so far, so token k is known when step k + 1 begins (the last one when
// generation returns).
class TokenWatch final : public TokenConstraint {
 public:
  TokenWatch(std::unique_ptr<TokenConstraint> inner, std::function<void(const std::vector<int32_t>&)> seen)
      : inner_(std::move(inner)), seen_(std::move(seen)) {}
  void mask(float* logits, int64_t vocab, const std::vector<int32_t>& generated) override {
    seen_(generated);
    inner_->mask(logits, vocab, generated);
  }

 private:
  std::unique_ptr<TokenConstraint> inner_;
  std::function<void(const std::vector<int32_t>&)> seen_;
};

constexpr double kTimePrecision = 0.02;  // seconds per timestamp token
constexpr float kFallbackStep = 0.2f;    // openai/whisper's temperature schedule

std::vector<int32_t> id_list(const HfConfig& cfg, const char* key, int64_t vocab_limit) {
  const nlohmann::json* j = find(cfg, key);
  if (!j || j->is_null()) return {};
  if (!j->is_array()) fail(ErrorKind::Corrupt, "{}: \"{}\" must be a list of token ids", cfg.path(), key);
  std::vector<int32_t> out;
  for (const auto& v : *j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > vocab_limit)
      fail(ErrorKind::Corrupt, "{}: \"{}\" must be a list of token ids", cfg.path(), key);
    out.push_back(static_cast<int32_t>(v.get<int64_t>()));
  }
  return out;
}

std::map<std::string, int32_t> id_map(const HfConfig& cfg, const char* key) {
  const nlohmann::json* j = find(cfg, key);
  std::map<std::string, int32_t> out;
  if (!j || j->is_null()) return out;
  if (!j->is_object()) fail(ErrorKind::Corrupt, "{}: \"{}\" must map names to token ids", cfg.path(), key);
  for (const auto& [name, v] : j->items()) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxConfigVocabSize)
      fail(ErrorKind::Corrupt, "{}: \"{}\" must map names to token ids", cfg.path(), key);
    out[name] = static_cast<int32_t>(v.get<int64_t>());
  }
  return out;
}

std::optional<int32_t> opt_id(const HfConfig& cfg, const char* key) {
  const std::optional<int64_t> v = cfg.opt_int(key);
  if (!v) return std::nullopt;
  if (*v < 0 || *v > kMaxConfigVocabSize) fail(ErrorKind::Corrupt, "{}: \"{}\" is not a token id", cfg.path(), key);
  return static_cast<int32_t>(*v);
}

}  // namespace

WhisperGenerationConfig WhisperGenerationConfig::load(const std::string& dir, const HfConfig& config,
                                                      const tok::Tokenizer& tok) {
  WhisperGenerationConfig g;
  // config.json first (older folders keep suppress_tokens and forced_decoder_ids there), then
  // generation_config.json over it.
  std::vector<HfConfig> sources{config};
  const auto path = std::filesystem::path(dir) / "generation_config.json";
  if (std::filesystem::exists(path)) sources.push_back(HfConfig::load_file(path.string()));
  g.decoder_start_token_id = static_cast<int32_t>(config.get_int("decoder_start_token_id", 50257));
  g.eos_token_id = static_cast<int32_t>(config.get_int("eos_token_id", 50256));
  for (const HfConfig& c : sources) {
    if (auto v = opt_id(c, "decoder_start_token_id")) g.decoder_start_token_id = *v;
    if (const nlohmann::json* e = find(c, "eos_token_id"); e && e->is_array() && !e->empty()) {
      g.eos_token_id = static_cast<int32_t>(parse_token_id_list(c, "eos_token_id").front());
    } else if (auto v = opt_id(c, "eos_token_id")) {
      g.eos_token_id = *v;
    }
    if (c.has("suppress_tokens")) g.suppress_tokens = id_list(c, "suppress_tokens", kMaxConfigVocabSize);
    if (c.has("begin_suppress_tokens"))
      g.begin_suppress_tokens = id_list(c, "begin_suppress_tokens", kMaxConfigVocabSize);
    if (auto m = id_map(c, "lang_to_id"); !m.empty()) g.lang_to_id = std::move(m);
    if (auto m = id_map(c, "task_to_id"); !m.empty()) g.task_to_id = std::move(m);
    if (auto v = opt_id(c, "no_timestamps_token_id")) {
      g.no_timestamps_token_id = *v;
      g.timestamp_begin = *v + 1;
    }
    if (auto v = opt_id(c, "prev_sot_token_id")) g.prev_sot_token_id = *v;
    if (auto v = c.opt_int("max_initial_timestamp_index")) g.max_initial_timestamp_index = std::max<int64_t>(0, *v);
    if (auto v = c.opt_bool("is_multilingual")) g.is_multilingual = *v;
    if (auto v = c.opt_float("compression_ratio_threshold")) g.compression_ratio_threshold = *v;
    if (auto v = c.opt_float("logprob_threshold")) g.logprob_threshold = *v;
    if (auto v = c.opt_float("no_speech_threshold")) g.no_speech_threshold = *v;
    if (auto v = c.opt_bool("condition_on_prev_tokens")) g.condition_on_prev_tokens = *v;
    if (const nlohmann::json* f = find(c, "forced_decoder_ids"); f && !f->is_null()) {
      g.forced_decoder_ids.clear();
      if (!f->is_array()) fail(ErrorKind::Corrupt, "{}: \"forced_decoder_ids\" must be a list", c.path());
      for (const auto& pair : *f) {
        if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_integer() ||
            !(pair[1].is_null() || pair[1].is_number_integer()))
          fail(ErrorKind::Corrupt, "{}: \"forced_decoder_ids\" must be [position, token id or null] pairs", c.path());
        g.forced_decoder_ids.emplace_back(
            pair[0].get<int64_t>(),
            pair[1].is_null() ? std::nullopt : std::optional<int32_t>(static_cast<int32_t>(pair[1].get<int64_t>())));
      }
    }
  }
  // What an older generation_config.json does not say, the tokenizer's special tokens do.
  if (g.lang_to_id.empty() && g.is_multilingual.value_or(true)) {
    for (std::string_view probe : whisper_language_codes()) {
      const std::string token = "<|" + std::string(probe) + "|>";
      if (auto id = tok.token_to_id(token)) g.lang_to_id[token] = *id;
    }
  }
  if (g.task_to_id.empty() && g.is_multilingual.value_or(true))
    for (const char* task : {"transcribe", "translate"})
      if (auto id = tok.token_to_id(std::string("<|") + task + "|>")) g.task_to_id[task] = *id;
  if (!g.no_timestamps_token_id) {
    g.no_timestamps_token_id = tok.token_to_id("<|notimestamps|>");
    const std::optional<int32_t> first = tok.token_to_id("<|0.00|>");
    if (g.no_timestamps_token_id && first && *first == *g.no_timestamps_token_id + 1) g.timestamp_begin = *first;
  }
  if (!g.prev_sot_token_id) g.prev_sot_token_id = tok.token_to_id("<|startofprev|>");
  return g;
}

std::vector<int32_t> whisper_init_tokens(const WhisperGenerationConfig& gc, std::optional<int32_t> language_id,
                                         const std::string& task, bool timestamps) {
  // The start token, then forced_decoder_ids at positions 1, 2, ... (a language or task given
  // by the caller replaces them, as transformers ignores forced ids then).
  std::vector<std::optional<int32_t>> init{gc.decoder_start_token_id};
  if (!language_id && task.empty() && !gc.forced_decoder_ids.empty() && gc.forced_decoder_ids[0].first == 1) {
    int64_t pos = 1;
    for (const auto& [p, id] : gc.forced_decoder_ids) {
      if (p != pos) break;
      init.push_back(id);
      ++pos;
    }
  }
  if (language_id) {
    if (init.size() > 1) {
      init[1] = *language_id;
    } else {
      init.push_back(*language_id);
    }
  }
  auto is_task = [&](const std::optional<int32_t>& id) {
    return id &&
           std::any_of(gc.task_to_id.begin(), gc.task_to_id.end(), [&](const auto& t) { return t.second == *id; });
  };
  if (!task.empty() && gc.task_to_id.count(task)) {
    const int32_t task_id = gc.task_to_id.at(task);
    if (std::any_of(init.begin(), init.end(), is_task)) {
      for (auto& id : init)
        if (is_task(id)) id = task_id;
    } else {
      init.push_back(task_id);
    }
  } else if (language_id && gc.task_to_id.count("transcribe") && !std::any_of(init.begin(), init.end(), is_task)) {
    init.push_back(gc.task_to_id.at("transcribe"));
  }
  if (!timestamps && gc.no_timestamps_token_id && init.back() != gc.no_timestamps_token_id) {
    init.push_back(*gc.no_timestamps_token_id);
  } else if (timestamps && gc.no_timestamps_token_id && init.back() == gc.no_timestamps_token_id) {
    init.pop_back();
  }
  std::vector<int32_t> out;
  for (const auto& id : init)
    if (id) out.push_back(*id);
  return out;
}

namespace {

class WhisperSpeechRecognizer final : public SpeechRecognizer {
 public:
  WhisperSpeechRecognizer(const std::string& dir, Device device, DType dtype) : dir_(dir) {
    if (dtype != DType::F32 && dtype != DType::BF16)
      fail(ErrorKind::InvalidArgument, "dtype {} is not supported for speech models (use f32 or bf16)",
           dtype_name(dtype));
    const HfConfig config = HfConfig::load(dir);
    features_.emplace(audio::WhisperFeatureExtractor::load(dir));
    auto tok = tok::Tokenizer::from_folder(dir);
    weights_ = WeightStore::open(dir);
    std::shared_ptr<const EncoderDecoder> model = load_encoder_decoder(config, *weights_, dtype, device);
    model_ = model;
    gc_ = WhisperGenerationConfig::load(dir, config, *tok);
    const DecoderConfig& dc = model->decoder().config();
    vocab_ = dc.vocab_size;
    gen_.emplace(model, tok, GenerationDefaults::load(dir, dc));
  }

  int sampling_rate() const override { return features_->sampling_rate(); }
  std::string kind() const override { return "whisper"; }
  bool gives_timestamps() const override { return gc_.has_timestamps(vocab_); }

  Transcript transcribe(const std::vector<float>& samples, const TranscriptionOptions& o) const override;

 private:
  struct Window {
    std::vector<int32_t> tokens;  // generated, trailing eos removed
    float temperature = 0;
    bool skipped = false;  // no speech: the window gives no segment
  };
  CrossKvCache encode(const Tensor& window) const;
  std::optional<int32_t> language_id(const TranscriptionOptions& o) const;
  int32_t detect_language(const CrossKvCache& cross) const;
  double no_speech_probability(const CrossKvCache& cross, const std::vector<int32_t>& prompt) const;
  // `live`: the window's tokens are final as generated (no fallback, one beam) and go to the
  // emitter as they come; the emitter also cancels generation once its reader is gone.
  Window decode(const CrossKvCache& cross, const std::vector<int32_t>& prompt, const TranscriptionOptions& o,
                bool timestamps, TextEmitter* emitter = nullptr, bool live = false) const;
  std::string text_of(const std::vector<int32_t>& tokens) const;

  std::string dir_;
  std::shared_ptr<WeightStore> weights_;
  std::shared_ptr<const EncoderDecoder> model_;
  std::optional<audio::WhisperFeatureExtractor> features_;
  std::optional<Generator> gen_;
  WhisperGenerationConfig gc_;
  int64_t vocab_ = 0;
};

CrossKvCache WhisperSpeechRecognizer::encode(const Tensor& window) const {
  // The encoder takes time-major frames (models/whisper.h): [frames, mels].
  const Encoder& enc = model_->encoder();
  const int64_t frames = enc.max_input_tokens();
  if (window.size(1) != frames)
    fail(ErrorKind::Unsupported, "{}: the feature extractor gives windows of {} frames, the model takes {}", dir_,
         window.size(1), frames);
  StepInputs step;
  step.input_embeddings = window.transpose(0, 1).contiguous();
  step.num_sequences = 1;
  const Tensor hidden = enc.forward(step).last_hidden_state;
  return model_->make_cross_cache(hidden, {0, hidden.size(0)});
}

std::optional<int32_t> WhisperSpeechRecognizer::language_id(const TranscriptionOptions& o) const {
  if (!o.language || o.language->empty()) return std::nullopt;
  const std::optional<std::string> code = whisper_language_code(*o.language);
  if (!code)
    fail(ErrorKind::InvalidArgument, "language \"{}\" is not one Whisper knows (use a code such as en)", *o.language);
  if (gc_.lang_to_id.empty()) {
    // An English-only model: English needs no token; another language it cannot do.
    if (*code == "en") return std::nullopt;
    fail(ErrorKind::InvalidArgument, "{}: this Whisper model is English-only; it cannot take language \"{}\"", dir_,
         *o.language);
  }
  const auto it = gc_.lang_to_id.find("<|" + *code + "|>");
  if (it == gc_.lang_to_id.end())
    fail(ErrorKind::InvalidArgument, "{}: this model has no language token <|{}|>", dir_, *code);
  return it->second;
}

int32_t WhisperSpeechRecognizer::detect_language(const CrossKvCache& cross) const {
  // transformers' detect_language: the logits after the start token alone, the most likely
  // language token.
  const CausalLM& decoder = gen_->model();
  CausalStepRunner runner(decoder);
  runner.set_cross_cache(&cross);
  auto cache = decoder.make_cache(1, 16);
  const int64_t seq = cache->create_sequence();
  const std::vector<int32_t> start{gc_.decoder_start_token_id};
  const Tensor logits = runner.step({SeqChunk{seq, start, 0}}, *cache);
  const float* row = logits.data<float>();
  int32_t best = -1;
  for (const auto& [token, id] : gc_.lang_to_id) {
    if (id < 0 || id >= vocab_) continue;
    if (best < 0 || row[id] > row[best] || (row[id] == row[best] && id < best)) best = id;
  }
  IA_CHECK(best >= 0, "whisper: no language token inside the vocabulary of {}", vocab_);
  return best;
}

double WhisperSpeechRecognizer::no_speech_probability(const CrossKvCache& cross,
                                                      const std::vector<int32_t>& prompt) const {
  // transformers' WhisperNoSpeechDetection: the probability of <|nospeech|> (the id before
  // <|notimestamps|>) in the softmax of the logits after <|startoftranscript|>.
  const auto sot = std::find(prompt.begin(), prompt.end(), gc_.decoder_start_token_id);
  IA_CHECK(sot != prompt.end(), "whisper: the decoder prompt has no start token");
  const std::vector<int32_t> head(prompt.begin(), sot + 1);
  const CausalLM& decoder = gen_->model();
  CausalStepRunner runner(decoder);
  runner.set_cross_cache(&cross);
  auto cache = decoder.make_cache((static_cast<int64_t>(head.size()) + 15) / 16, 16);
  const int64_t seq = cache->create_sequence();
  const Tensor logits = runner.step({SeqChunk{seq, head, 0}}, *cache);
  const float* row = logits.data<float>();
  const int64_t id = *gc_.no_timestamps_token_id - 1;
  if (id < 0 || id >= vocab_) return 0.0;
  const float m = *std::max_element(row, row + vocab_);
  double sum = 0;
  for (int64_t i = 0; i < vocab_; ++i) sum += std::exp(static_cast<double>(row[i]) - m);
  return std::exp(static_cast<double>(row[id]) - m) / sum;
}

WhisperSpeechRecognizer::Window WhisperSpeechRecognizer::decode(const CrossKvCache& cross,
                                                                const std::vector<int32_t>& prompt,
                                                                const TranscriptionOptions& o, bool timestamps,
                                                                TextEmitter* emitter, bool live) const {
  auto rules = std::make_shared<WhisperRules>();
  rules->suppress_tokens = gc_.suppress_tokens;
  rules->begin_suppress_tokens = gc_.begin_suppress_tokens;
  rules->timestamps = timestamps;
  rules->eos_token_id = gc_.eos_token_id;
  if (timestamps) rules->no_timestamps_token_id = *gc_.no_timestamps_token_id;
  rules->max_initial_timestamp_index = gc_.max_initial_timestamp_index;

  // The temperatures to try: the request's, then (with thresholds to judge by) up to 1.0 in steps.
  const float t0 = o.temperature.value_or(0.0f);
  std::vector<float> temperatures{t0};
  if (gc_.compression_ratio_threshold || gc_.logprob_threshold)
    for (float t = t0 + kFallbackStep; t <= 1.0f + 1e-6f; t += kFallbackStep) temperatures.push_back(t);

  // No-speech detection needs both its threshold and the log-prob one, as in transformers.
  std::optional<double> no_speech;
  if (gc_.no_speech_threshold && gc_.logprob_threshold && gc_.no_timestamps_token_id)
    no_speech = no_speech_probability(cross, prompt);

  Window out;
  for (size_t attempt = 0; attempt < temperatures.size(); ++attempt) {
    const float t = temperatures[attempt];
    GenerationRequest req;
    req.temperature = t;
    if (o.max_new_tokens) req.max_new_tokens = *o.max_new_tokens;
    req.ignore_eos = o.ignore_eos;
    req.num_beams = t > 0 ? 1 : o.num_beams;  // transformers samples with one beam
    auto trace = *req.num_beams == 1 ? std::make_shared<WhisperStepTrace>() : nullptr;
    req.logits_processor = whisper_logits_processor(rules, trace);
    size_t fed = 0;  // this window's tokens given to the emitter (live)
    if (emitter && emitter->active()) req.cancelled = [emitter] { return emitter->stopped(); };
    if (live && emitter && emitter->active()) {
      req.logits_processor = [inner = req.logits_processor, emitter, &fed] {
        return std::make_unique<TokenWatch>(inner(), [emitter, &fed](const std::vector<int32_t>& generated) {
          for (; fed < generated.size(); ++fed) emitter->feed(generated[fed]);
        });
      };
    }
    const GenerationResult r = gen_->generate_from_cross(cross, {prompt}, req).at(0);
    std::vector<int32_t> tokens = r.ids;
    if (trace && !tokens.empty()) trace->chosen(tokens.back());
    // The eos that ended the window is not part of its text (transformers drops it, and pads).
    if (!o.ignore_eos)
      while (!tokens.empty() && tokens.back() == gc_.eos_token_id) tokens.pop_back();
    out.tokens = std::move(tokens);
    out.temperature = t;
    // The last token is seen only now (the eos that ended the window never reaches the
    // processor, so nothing fed is dropped above).
    if (live && emitter)
      for (; fed < out.tokens.size(); ++fed) emitter->feed(out.tokens[fed]);
    bool fallback = false;
    if (gc_.compression_ratio_threshold &&
        whisper_compression_ratio(out.tokens, vocab_) > *gc_.compression_ratio_threshold)
      fallback = true;
    if (gc_.logprob_threshold) {
      const double lp = r.beam_score ? static_cast<double>(*r.beam_score)
                                     : whisper_avg_logprob(trace->logprobs, out.tokens, gc_.eos_token_id);
      if (lp < *gc_.logprob_threshold) fallback = true;
      if (lp < *gc_.logprob_threshold && no_speech && *no_speech > *gc_.no_speech_threshold) {
        out.skipped = true;  // silence, not a bad decoding: no fallback, no segment
        return out;
      }
    }
    if (!fallback) break;
  }
  return out;
}

std::string WhisperSpeechRecognizer::text_of(const std::vector<int32_t>& tokens) const {
  // Timestamps are not text (WhisperTokenizer drops them unless asked to show them).
  std::vector<int32_t> text;
  const int64_t tb = gc_.has_timestamps(vocab_) ? *gc_.timestamp_begin : vocab_;
  for (int32_t t : tokens)
    if (t < tb) text.push_back(t);
  return gen_->tokenizer().decode(text, true);
}

Transcript WhisperSpeechRecognizer::transcribe(const std::vector<float>& samples, const TranscriptionOptions& o) const {
  if (o.task != "transcribe" && o.task != "translate")
    fail(ErrorKind::InvalidArgument, "task must be transcribe or translate, got \"{}\"", o.task);
  if (samples.empty()) fail(ErrorKind::InvalidArgument, "the audio has no samples");
  if (o.num_beams < 1 || o.num_beams > kMaxBeams)
    fail(ErrorKind::InvalidArgument, "num_beams must be between 1 and {}, got {}", kMaxBeams, o.num_beams);
  if (o.temperature && !(*o.temperature >= 0 && *o.temperature <= 2))
    fail(ErrorKind::InvalidArgument, "temperature must be between 0 and 2, got {}", *o.temperature);
  if (o.temperature && *o.temperature > 0 && o.num_beams > 1)
    fail(ErrorKind::InvalidArgument, "num_beams > 1 runs beam search, which does not sample: use temperature 0");
  const audio::WhisperFeatureConfig& fc = features_->config();
  const bool long_form = static_cast<int64_t>(samples.size()) > fc.n_samples();
  const bool can_time = gc_.has_timestamps(vocab_);
  if (o.timestamps && !can_time)
    fail(ErrorKind::InvalidArgument,
         "{}: this model has no timestamp tokens (no_timestamps_token_id): it cannot give "
         "timestamps",
         dir_);
  if (long_form && !can_time)
    fail(ErrorKind::InvalidArgument,
         "{}: audio longer than {} s is transcribed in windows that continue from timestamps, and this model has no "
         "timestamp tokens",
         dir_, fc.chunk_length);
  if (o.task == "translate" && !gc_.task_to_id.count("translate"))
    fail(ErrorKind::InvalidArgument, "{}: this model cannot translate (no <|translate|> token)", dir_);
  const bool timestamps = o.timestamps || long_form;  // transformers times long-form output always

  // The prompt: <|startofprev|> and the text, as WhisperTokenizer.get_prompt_ids makes it.
  std::vector<int32_t> prompt_ids;
  if (!o.prompt.empty()) {
    if (!gc_.prev_sot_token_id)
      fail(ErrorKind::InvalidArgument, "{}: this model has no <|startofprev|> token to take a prompt", dir_);
    std::string text = o.prompt;
    const auto first = text.find_first_not_of(" \t\n\r\f\v");
    text = first == std::string::npos ? "" : text.substr(first, text.find_last_not_of(" \t\n\r\f\v") - first + 1);
    prompt_ids = gen_->tokenizer().encode(" " + text, false).ids;
    // At most half the decoder's positions, as openai/whisper keeps the prompt's last tokens.
    const auto keep = static_cast<size_t>(std::max<int64_t>(1, gen_->model().config().max_positions / 2 - 1));
    if (prompt_ids.size() > keep)
      prompt_ids.erase(prompt_ids.begin(), prompt_ids.end() - static_cast<std::ptrdiff_t>(keep));
  }

  const Tensor features = long_form ? features_->compute_unpadded(samples) : features_->compute(samples);
  const int64_t total = long_form ? features.size(1) : fc.nb_max_frames();
  const int64_t window_frames = fc.nb_max_frames();
  const double seconds_per_frame = static_cast<double>(fc.hop_length) / static_cast<double>(fc.sampling_rate);
  const int32_t tb = can_time ? *gc_.timestamp_begin : static_cast<int32_t>(vocab_);

  // Streaming: a window's tokens are final as generated unless the temperature fallback may
  // decode it again, beam search may still change them, or timestamps cut the window (the tokens
  // after its last complete segment are heard again in the next one); then a window's text goes
  // once the window is decided.
  TextEmitter emitter(gen_->tokenizer(), can_time ? *gc_.timestamp_begin : vocab_, o.on_text);
  const bool may_fall_back = gc_.compression_ratio_threshold || gc_.logprob_threshold;
  const bool one_beam = o.num_beams == 1 || (o.temperature && *o.temperature > 0);
  const bool live = !timestamps && !may_fall_back && one_beam;

  Transcript t;
  t.duration = static_cast<double>(samples.size()) / static_cast<double>(fc.sampling_rate);
  std::optional<int32_t> lang = language_id(o);
  std::vector<int32_t> init;
  std::vector<int32_t> all_tokens;
  std::vector<int32_t> previous;  // the text so far, for condition_on_prev_tokens
  bool condition = gc_.condition_on_prev_tokens;
  for (int64_t seek = 0; seek < total;) {
    const int64_t n = std::min(window_frames, total - seek);
    Tensor window = features;
    if (long_form) {
      // This window's frames, zero-padded to a full window (transformers pads the slice with 0).
      window = Tensor::zeros({features.size(0), window_frames}, DType::F32);
      const float* src = features.data<float>();
      float* dst = window.data<float>();
      for (int64_t m = 0; m < features.size(0); ++m)
        std::copy(src + m * total + seek, src + m * total + seek + n, dst + m * window_frames);
    }
    const CrossKvCache cross = encode(window);
    if (init.empty()) {
      // No language given: detected on the first window (a task is always given here, so
      // forced_decoder_ids do not apply, as in transformers).
      if (!lang && !gc_.lang_to_id.empty()) lang = detect_language(cross);
      init = whisper_init_tokens(gc_, lang, o.task, timestamps);
      if (lang)
        for (const auto& [token, id] : gc_.lang_to_id)
          if (id == *lang) t.language = token.substr(2, token.size() - 4);
      if (gc_.is_multilingual == false) t.language = "en";  // an English-only model
    }
    // The decoder prompt: previous text or the prompt after <|startofprev|>, then the init tokens.
    std::vector<int32_t> decoder_prompt;
    std::vector<int32_t> context = prompt_ids;
    if (condition && !previous.empty() && gc_.prev_sot_token_id) {
      context.insert(context.end(), previous.begin(), previous.end());
      const auto cut = static_cast<size_t>(gen_->model().config().max_positions / 2 - 1);
      if (context.size() > cut) context.erase(context.begin(), context.end() - static_cast<std::ptrdiff_t>(cut));
    }
    if (!context.empty()) {
      decoder_prompt.push_back(*gc_.prev_sot_token_id);
      decoder_prompt.insert(decoder_prompt.end(), context.begin(), context.end());
    }
    decoder_prompt.insert(decoder_prompt.end(), init.begin(), init.end());
    const Window w = decode(cross, decoder_prompt, o, timestamps, &emitter, live);
    condition = gc_.condition_on_prev_tokens && w.temperature < 0.5f;
    if (emitter.stopped()) break;  // the reader is gone
    if (w.skipped) {
      if (!long_form) break;
      seek += n;
      continue;
    }

    if (!timestamps) {
      all_tokens = w.tokens;
      if (!live)
        for (int32_t id : w.tokens) emitter.feed(id);
      break;
    }
    const WhisperWindowSplit split = split_window(w.tokens, tb, static_cast<double>(seek) * seconds_per_frame, n, 2,
                                                  kTimePrecision, seconds_per_frame);
    for (const auto& s : split.segments) {
      for (int32_t id : s.tokens) emitter.feed(id);
      all_tokens.insert(all_tokens.end(), s.tokens.begin(), s.tokens.end());
      previous.insert(previous.end(), s.tokens.begin(), s.tokens.end());
      t.segments.push_back(TranscriptSegment{s.start, s.end, text_of(s.tokens)});
    }
    if (!long_form) break;
    // Always forward, even when a window's only complete segment ends where it began.
    seek += split.advance_frames > 0 ? split.advance_frames : n;
  }
  emitter.finish();
  t.ids.assign(all_tokens.begin(), all_tokens.end());
  t.text = text_of(all_tokens);
  if (!o.timestamps && !long_form) t.segments.clear();
  return t;
}

}  // namespace

std::shared_ptr<const SpeechRecognizer> load_whisper_recognizer(const std::string& dir, Device device, DType dtype) {
  return std::make_shared<WhisperSpeechRecognizer>(dir, device, dtype);
}

}  // namespace ia
