#include "tokenizers/tokenizer.h"

#include <atomic>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include "core/bounded_json.h"
#include "core/thread_pool.h"

#include "tokenizers/added_vocabulary.h"
#include "tokenizers/decoders.h"
#include "tokenizers/input_limits.h"
#include "tokenizers/json_util.h"
#include "tokenizers/legacy_loader.h"
#include "tokenizers/model.h"
#include "tokenizers/normalizers.h"
#include "tokenizers/post_processors.h"
#include "tokenizers/pre_tokenizers.h"
#include "tokenizers/truncation_padding.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

std::shared_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    fail(ErrorKind::NotFound, "tokenizer file '{}' cannot be opened", path);
  return parse(read_bounded_file(path, kMaxTokenizerJsonBytes), path);
}

std::shared_ptr<Tokenizer> Tokenizer::from_json_string(const std::string& json) {
  return parse(json, "<tokenizer.json string>");
}

std::shared_ptr<Tokenizer> Tokenizer::from_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::NotFound, "model folder '{}' does not exist", dir);
  const fs::path p = fs::path(dir) / "tokenizer.json";
  if (fs::is_regular_file(p, ec)) return from_file(p.string());
  return LegacyLoader::load(dir);
}

std::shared_ptr<Tokenizer> Tokenizer::parse(const std::string& text, const std::string& source) {
  JsonLimits limits;
  limits.max_bytes = kMaxTokenizerJsonBytes;
  return from_json(parse_json_bounded(text, source, limits), source, nullptr, nullptr);
}

std::shared_ptr<Tokenizer> Tokenizer::from_json(const nlohmann::json& j, const std::string& source,
                                                std::unique_ptr<Model> model, std::unique_ptr<Decoder> decoder) {
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  try {
    if (!j.is_object()) fail(ErrorKind::Corrupt, "top level must be a JSON object");
    auto get = [&](const char* key) -> const nlohmann::json& {
      static const nlohmann::json null_json;
      auto it = j.find(key);
      return it == j.end() ? null_json : *it;
    };
    t->normalizer_ = make_normalizer(get("normalizer"));
    t->pre_tokenizer_ = make_pre_tokenizer(get("pre_tokenizer"));
    if (model) {
      t->model_ = std::move(model);
    } else {
      if (get("model").is_null()) fail(ErrorKind::Corrupt, "missing 'model'");
      t->model_ = make_model(get("model"));
    }
    t->post_processor_ = make_post_processor(get("post_processor"));
    t->decoder_ = decoder ? std::move(decoder) : make_decoder(get("decoder"));

    std::vector<AddedToken> added;
    if (const auto& at = get("added_tokens"); !at.is_null()) {
      const std::string what = "added_tokens";
      if (!at.is_array()) fail(ErrorKind::Corrupt, "'added_tokens' must be an array");
      if (at.size() > kMaxAddedTokens)
        fail(ErrorKind::Corrupt, "{} added_tokens, more than the limit of {}", at.size(), kMaxAddedTokens);
      for (const auto& a : at) {
        AddedToken tok;
        tok.content = js::str(a, "content", what);
        if (!uni::is_valid_utf8(tok.content)) fail(ErrorKind::Corrupt, "added token is not valid UTF-8");
        tok.id = js::token_id(js::field(a, "id", what), what, "id");
        tok.special = js::boolean_or(a, "special", what, false);
        tok.single_word = js::boolean_or(a, "single_word", what, false);
        tok.lstrip = js::boolean_or(a, "lstrip", what, false);
        tok.rstrip = js::boolean_or(a, "rstrip", what, false);
        tok.normalized = js::boolean_or(a, "normalized", what, !tok.special);
        if (!tok.content.empty()) added.push_back(std::move(tok));
      }
    }
    t->added_ = std::make_unique<AddedVocabulary>();
    t->added_->build(std::move(added), t->normalizer_.get());

    t->padding_ = parse_padding(get("padding"));
    if (t->padding_) t->pad_id_ = t->padding_->pad_id;
    // How many special tokens the post-processor adds (HF added_tokens(is_pair)),
    // measured once on empty inputs: truncation leaves room for them.
    if (t->post_processor_) {
      for (size_t n : {size_t{1}, size_t{2}}) {
        std::vector<Encoding> empty(n);
        t->post_processor_->process(empty, true);
        (n == 1 ? t->added_single_ : t->added_pair_) = merge_encodings(std::move(empty)).ids.size();
      }
    }
    t->with_truncation(parse_truncation(get("truncation")));
    // HF counts the union of model and added token strings.
    std::unordered_set<std::string_view> all;
    for (auto tok : t->model_->tokens()) all.insert(tok);
    for (const auto& a : t->added_->tokens()) all.insert(a.content);
    t->vocab_size_ = all.size();
  } catch (const Error& e) {
    throw Error(e.kind(), fmt::format("{}: {}", source, e.what()));
  } catch (const nlohmann::json::exception& e) {
    fail(ErrorKind::Corrupt, "{}: malformed tokenizer.json: {}", source, e.what());
  }
  return t;
}

void Tokenizer::with_truncation(std::optional<TruncationParams> t) {
  if (t) {
    // HF refuses a stride that leaves no room once special tokens are added.
    const size_t effective = t->max_length > added_single_ ? t->max_length - added_single_ : 0;
    if (t->stride > 0 && t->stride >= effective) {
      fail(ErrorKind::InvalidArgument,
           "truncation stride {} is not less than the effective max length {} ({} minus {} special tokens)", t->stride,
           effective, t->max_length, added_single_);
    }
  }
  truncation_ = std::move(t);
}

Encoding Tokenizer::encode_one(std::string_view text, int32_t type_id) const {
  // Invalid UTF-8 becomes U+FFFD first; offsets then refer to that text.
  PreTokenizedString pts(uni::sanitize_utf8(text));
  added_->extract_and_normalize(normalizer_.get(), pts);
  if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(pts);
  pts.tokenize(*model_);
  return pts.into_encoding(type_id);
}

Encoding Tokenizer::finish(std::vector<Encoding>&& encs, bool add_special_tokens,
                           const TruncationParams* truncation) const {
  if (truncation) {
    const size_t added = add_special_tokens ? (encs.size() > 1 ? added_pair_ : added_single_) : 0;
    const size_t max_len = truncation->max_length > added ? truncation->max_length - added : 0;
    truncate_encodings(encs, *truncation, max_len);
  }
  if (post_processor_) post_processor_->process(encs, add_special_tokens);
  return merge_encodings(std::move(encs));
}

Encoding Tokenizer::encode_unpadded(std::string_view a, const std::string_view* b, bool add_special_tokens) const {
  std::vector<Encoding> encs;
  encs.reserve(b ? 2 : 1);
  encs.push_back(encode_one(a, 0));
  if (b) encs.push_back(encode_one(*b, 1));
  return finish(std::move(encs), add_special_tokens, truncation_ ? &*truncation_ : nullptr);
}

Encoding Tokenizer::encode_truncated(std::string_view text, size_t max_length, bool add_special_tokens) const {
  const size_t added = add_special_tokens ? added_single_ : 0;
  if (max_length <= added)
    fail(ErrorKind::InvalidArgument,
         "a maximum length of {} tokens leaves no room for the text after {} special tokens", max_length, added);
  TruncationParams t;
  t.max_length = max_length;
  std::vector<Encoding> encs;
  encs.push_back(encode_one(text, 0));
  return padded_one(finish(std::move(encs), add_special_tokens, &t));
}

Encoding Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  return padded_one(encode_unpadded(text, nullptr, add_special_tokens));
}

Encoding Tokenizer::encode_pair(std::string_view a, std::string_view b, bool add_special_tokens) const {
  return padded_one(encode_unpadded(a, &b, add_special_tokens));
}

Encoding Tokenizer::padded_one(Encoding e) const {
  if (!padding_) return e;
  std::vector<Encoding> one;
  one.push_back(std::move(e));
  pad_encodings(one, *padding_);
  return std::move(one[0]);
}

namespace {
// Runs fn(i) for i in [0, n) on the pool; workers take the next index from a
// shared counter so one long text does not leave the others idle. The first
// error is rethrown here (exceptions must not cross an OpenMP region).
void for_each_parallel(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  const int64_t workers = std::min<int64_t>(ia::num_threads(), static_cast<int64_t>(n));
  if (workers <= 1 || n < 2) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mu;
  ia::parallel_for(workers, 1, [&](int64_t, int64_t) {
    for (size_t i = next.fetch_add(1); i < n && !failed.load(std::memory_order_relaxed); i = next.fetch_add(1)) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  });
  if (error) std::rethrow_exception(error);
}
}  // namespace

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts, bool add_special_tokens) const {
  std::vector<Encoding> out(texts.size());
  for_each_parallel(texts.size(), [&](size_t i) { out[i] = encode_unpadded(texts[i], nullptr, add_special_tokens); });
  if (padding_) pad_encodings(out, *padding_);
  return out;
}

std::vector<Encoding> Tokenizer::encode_batch_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                                    bool add_special_tokens) const {
  std::vector<Encoding> out(pairs.size());
  for_each_parallel(pairs.size(), [&](size_t i) {
    const std::string_view b = pairs[i].second;
    out[i] = encode_unpadded(pairs[i].first, &b, add_special_tokens);
  });
  if (padding_) pad_encodings(out, *padding_);
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    std::optional<std::string> tok;
    if (const auto* a = added_->by_id(id)) {
      if (skip_special_tokens && added_->is_special(a->content)) continue;
      tok = a->content;
    } else {
      tok = model_->id_to_token(id);
      if (tok && skip_special_tokens && added_->is_special(*tok)) continue;
    }
    if (tok) tokens.push_back(std::move(*tok));  // unknown ids are skipped, as in HF
  }
  if (decoder_) return decoder_->decode(std::move(tokens));
  std::string out;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) out += ' ';
    out += tokens[i];
  }
  return out;
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto id = added_->token_to_id(token)) return id;
  return model_->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const auto* a = added_->by_id(id)) return a->content;
  return model_->id_to_token(id);
}

size_t Tokenizer::vocab_size() const {
  return vocab_size_;
}

std::optional<int32_t> Tokenizer::pad_token_id() const {
  if (pad_id_) return pad_id_;
  for (const char* name : {"[PAD]", "<pad>"}) {
    if (auto id = added_->token_to_id(name)) return id;
  }
  return std::nullopt;
}

}  // namespace ia::tok
