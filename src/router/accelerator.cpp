// The Accelerator facade: one call per task. Today every call runs on a local
// endpoint; remote providers join here later as a fallback chain.
#include "ipfs_accelerate/accelerator.h"

#include <filesystem>
#include <map>
#include <mutex>
#include <tuple>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/model_registry.h"
#include "runtime/device_selection.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/hardware.h"
#include "tokenizers/tokenizer.h"

namespace ipfs_accelerate {

namespace fs = std::filesystem;

namespace {

// Runs fn, translating internal errors into the public Error type.
template <typename Fn>
auto translate_errors(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ia::Error& e) {
    throw Error(ia::error_kind_name(e.kind()), e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error("corrupt", e.what());
  } catch (const std::bad_alloc&) {
    throw Error("unavailable", "out of memory");
  }
}

std::string resolve_model_dir(const std::string& model) {
  if (model.empty()) ia::fail(ia::ErrorKind::InvalidArgument, "no model given (--model DIR)");
  std::error_code ec;
  if (!fs::exists(model, ec)) ia::fail(ia::ErrorKind::NotFound, "{}: model folder does not exist", model);
  if (!fs::is_directory(model, ec)) ia::fail(ia::ErrorKind::InvalidArgument, "{}: not a folder", model);
  return fs::weakly_canonical(model, ec).string();
}

ia::DType parse_compute_dtype(const std::string& s) {
  if (s == "f32" || s == "float32") return ia::DType::F32;
  if (s == "bf16" || s == "bfloat16") return ia::DType::BF16;
  ia::fail(ia::ErrorKind::InvalidArgument, "unsupported dtype \"{}\" (expected f32 or bf16)", s);
}

}  // namespace

struct Accelerator::Impl {
  std::mutex mu;
  std::map<std::tuple<std::string, std::string, int>, std::shared_ptr<ia::EmbeddingEndpoint>> endpoints;
  std::map<std::string, std::shared_ptr<ia::tok::Tokenizer>> tokenizers;

  std::shared_ptr<ia::EmbeddingEndpoint> endpoint(const std::string& dir, ia::Device device, ia::DType dtype) {
    std::lock_guard<std::mutex> lock(mu);
    auto key = std::make_tuple(dir, device.str(), static_cast<int>(dtype));
    auto it = endpoints.find(key);
    if (it != endpoints.end()) return it->second;
    auto ep = ia::EmbeddingEndpoint::load(dir, device, dtype);
    endpoints[key] = ep;
    return ep;
  }

  std::shared_ptr<ia::tok::Tokenizer> tokenizer(const std::string& dir) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = tokenizers.find(dir);
    if (it != tokenizers.end()) return it->second;
    auto t = ia::tok::Tokenizer::from_folder(dir);
    tokenizers[dir] = t;
    return t;
  }
};

Accelerator::Accelerator(AcceleratorOptions options) : impl_(std::make_unique<Impl>()) {
  ia::set_num_threads(options.threads);
}

Accelerator::~Accelerator() = default;

EmbedResult Accelerator::embed(const std::string& model, const std::vector<std::string>& texts,
                               const EmbedOptions& options) {
  return translate_errors([&] {
    std::string dir = resolve_model_dir(model);
    ia::DType dtype = parse_compute_dtype(options.dtype);
    ia::Device device = ia::choose_device(options.device);
    ia::EmbeddingOptions eo;
    if (options.pooling) eo.pooling = ia::parse_pool_mode(*options.pooling);
    eo.normalize = options.normalize;
    eo.batch_size = options.batch_size;
    eo.truncate = options.truncate;
    auto ep = impl_->endpoint(dir, device, dtype);
    ia::EmbeddingResult r = ep->embed(texts, eo);

    EmbedResult out;
    out.model = model;
    out.device = device.str();
    out.dtype = ia::dtype_name(dtype);
    out.pooling = ia::pool_mode_name(r.pooling);
    out.normalized = r.normalized;
    out.dimensions = static_cast<int>(r.embeddings.size(1));
    const float* p = r.embeddings.data<float>();
    for (int64_t i = 0; i < r.embeddings.size(0); ++i) {
      out.embeddings.emplace_back(p + i * out.dimensions, p + (i + 1) * out.dimensions);
    }
    out.token_counts = r.token_counts;
    out.warnings = r.warnings;
    out.tokenize_ms = r.tokenize_ms;
    out.inference_ms = r.inference_ms;
    return out;
  });
}

TokenizeResult Accelerator::tokenize(const std::string& model, const std::string& text, bool add_special_tokens,
                                     const std::optional<std::string>& pair) {
  return translate_errors([&] {
    auto tok = impl_->tokenizer(resolve_model_dir(model));
    ia::tok::Encoding e = pair ? tok->encode_pair(text, *pair, add_special_tokens) : tok->encode(text, add_special_tokens);
    TokenizeResult r;
    r.ids.assign(e.ids.begin(), e.ids.end());
    r.type_ids.assign(e.type_ids.begin(), e.type_ids.end());
    r.tokens = e.tokens;
    r.offsets = e.offsets;
    return r;
  });
}

std::string Accelerator::detokenize(const std::string& model, const std::vector<int>& ids, bool skip_special_tokens) {
  return translate_errors([&] {
    auto tok = impl_->tokenizer(resolve_model_dir(model));
    std::vector<int32_t> v(ids.begin(), ids.end());
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || static_cast<size_t>(v[i]) >= tok->vocab_size()) {
        ia::fail(ia::ErrorKind::InvalidArgument, "token id {} (position {}) is outside the vocabulary of {} tokens",
                 v[i], i, tok->vocab_size());
      }
    }
    return tok->decode(v, skip_special_tokens);
  });
}

std::string Accelerator::inspect(const std::string& model) {
  return translate_errors([&] {
    std::string dir = resolve_model_dir(model);
    ia::HfConfig config = ia::HfConfig::load(dir);
    ia::ModelKind kind = ia::classify_model(config.json(), config.path());
    nlohmann::json j;
    j["model"] = model;
    j["path"] = dir;
    j["model_type"] = kind.model_type;
    j["family"] = kind.family;
    j["architecture"] = kind.architecture;
    j["task"] = kind.task;
    j["modality"] = kind.modality;
    j["implemented"] = kind.implemented;
    auto weights = ia::WeightStore::open(dir);
    int64_t params = 0;
    for (const auto& name : weights->names()) params += weights->info(name).numel();
    j["parameters"] = params;
    j["weight_bytes"] = weights->total_bytes();
    j["sharded"] = weights->sharded();
    j["dtypes"] = weights->dtype_counts();
    j["tensors"] = weights->names().size();
    nlohmann::json files = nlohmann::json::array();
    std::vector<fs::directory_entry> entries;
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (e.is_regular_file()) entries.push_back(e);
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
    for (const auto& e : entries) {
      files.push_back({{"name", fs::relative(e.path(), dir).string()}, {"bytes", e.file_size()}});
    }
    j["files"] = files;
    j["has_tokenizer"] = fs::exists(fs::path(dir) / "tokenizer.json");
    auto st = ia::load_sentence_transformer_config(dir);
    if (st) {
      j["sentence_transformers"] = {{"pooling", st->pooling ? ia::pooling_mode_name(*st->pooling) : "mean"},
                                    {"normalize", st->normalize}};
    }
    return j.dump(2);
  });
}

std::string Accelerator::hardware_json() {
  return translate_errors([&] { return ia::hardware_report().dump(2); });
}

}  // namespace ipfs_accelerate
