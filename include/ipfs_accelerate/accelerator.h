#pragma once
// The public C++ API of ipfs-accelerate. Nothing device- or ISA-specific
// appears here; errors are ipfs_accelerate::Error.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ipfs_accelerate {

// kind: "invalid_argument", "not_found", "corrupt", "unsupported", "unavailable", "internal".
// Every kind but "internal" is caused by the input (a CLI maps it to exit status 2).
class Error : public std::runtime_error {
 public:
  Error(std::string kind, const std::string& message) : std::runtime_error(message), kind_(std::move(kind)) {}
  const std::string& kind() const { return kind_; }
  bool is_user_error() const { return kind_ != "internal"; }

 private:
  std::string kind_;
};

struct AcceleratorOptions {
  int threads = 0;  // 0: one per physical core
};

struct EmbedOptions {
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  std::string dtype = "f32";           // f32 | bf16
  std::optional<std::string> pooling;  // cls | mean | max | mean_sqrt_len; default: the model folder's
  std::optional<bool> normalize;       // default: the model folder's (sentence-transformers Normalize module)
  int batch_size = 32;
  bool truncate = true;  // false: a text over the model's limit is an error
};

struct EmbedResult {
  std::string model;
  std::string device;
  std::string dtype;
  std::string pooling;
  bool normalized = false;
  int dimensions = 0;
  std::vector<std::vector<float>> embeddings;
  std::vector<int> token_counts;      // tokens per text, special tokens included, after truncation
  std::vector<std::string> warnings;  // e.g. truncation
  double tokenize_ms = 0;
  double inference_ms = 0;
};

struct TokenizeResult {
  std::vector<int> ids;
  std::vector<int> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<size_t, size_t>> offsets;
};

class Accelerator {
 public:
  explicit Accelerator(AcceleratorOptions options = {});
  ~Accelerator();
  Accelerator(const Accelerator&) = delete;
  Accelerator& operator=(const Accelerator&) = delete;

  // `model` is a Hugging Face model folder. Loaded models are kept for reuse.
  EmbedResult embed(const std::string& model, const std::vector<std::string>& texts, const EmbedOptions& options = {});

  TokenizeResult tokenize(const std::string& model, const std::string& text, bool add_special_tokens = true,
                          const std::optional<std::string>& pair = std::nullopt);
  std::string detokenize(const std::string& model, const std::vector<int>& ids, bool skip_special_tokens = false);

  // JSON text describing the model folder (family, architecture, task, modality, parameters, dtypes, files).
  std::string inspect(const std::string& model);
  // JSON text describing this machine (CPU, ISA, memory, CUDA).
  static std::string hardware_json();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipfs_accelerate
