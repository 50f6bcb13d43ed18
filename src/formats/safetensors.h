#pragma once
// safetensors: reader (mmap, zero copy), a model folder's weight store (single
// file or sharded through model.safetensors.index.json) and an atomic writer.
//
// Every malformed file is an ia::Error of kind Corrupt whose one-line message
// starts with the file's path and says what is wrong. A valid file holding a
// dtype ipfs-accelerate has no DType for (F8_E4M3, ...) opens fine; asking for
// that tensor is an Unsupported error.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/progress.h"
#include "core/quantization.h"
#include "core/storage.h"
#include "core/tensor.h"

namespace ia {

struct CheckpointQuantization;  // formats/checkpoint_quantization.h

// Header sizes above this are refused as corrupt (the reference implementation's limit).
inline constexpr size_t kSafetensorsMaxHeaderBytes = 100u * 1000u * 1000u;
// Tensors in one file above this are refused as corrupt (large checkpoints hold a few thousand per shard).
inline constexpr size_t kSafetensorsMaxTensors = 1u << 20;

struct TensorInfo {
  std::string name;
  std::string st_dtype;        // as written in the file: "F32", "BF16", "F8_E4M3", ...
  std::optional<DType> dtype;  // nullopt: a valid safetensors dtype we cannot compute with
  Shape shape;
  size_t begin = 0;  // byte range, relative to the start of the data section
  size_t end = 0;
  size_t file_offset = 0;  // absolute offset of the first byte in the file
  size_t nbytes() const { return end - begin; }
  int64_t numel() const { return shape_numel(shape); }
};

// The validated contents of a safetensors header.
struct SafetensorsHeader {
  size_t data_offset = 0;           // absolute offset of the data section (8 + header length)
  size_t data_size = 0;             // bytes in the data section
  std::vector<TensorInfo> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`. NotFound when it cannot be opened, Corrupt when malformed.
  static std::shared_ptr<SafetensorsFile> open(const std::string& path);

  // Validates a whole file image held in memory (used by open() on the mapping,
  // and by the fuzzer). `name` is what error messages call the file.
  static SafetensorsHeader parse_header(const uint8_t* data, size_t size, const std::string& name);

  const std::string& path() const { return path_; }
  std::vector<std::string> names() const;  // sorted
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  size_t size() const { return header_.tensors.size(); }
  const TensorInfo& info(const std::string& name) const;  // NotFound when absent
  const std::vector<TensorInfo>& infos() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  size_t data_bytes() const { return header_.data_size; }

  // A zero-copy view on the mapping (a host copy only when the bytes are not
  // aligned to the element size). NotFound when absent, Unsupported for a dtype
  // without an ia::DType.
  Tensor tensor(const std::string& name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
  std::unordered_map<std::string, size_t> index_;
};

// The weights of a Hugging Face model folder: model.safetensors, or the shards
// listed by model.safetensors.index.json.
class WeightStore {
 public:
  // NotFound when the folder has neither file (Unsupported when it only has
  // pytorch_model.bin); NotFound when a listed shard is missing; Corrupt when
  // the index is malformed or a listed tensor is absent from its shard.
  static std::shared_ptr<WeightStore> open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool has(const std::string& name) const { return where_.count(name) != 0; }
  std::vector<std::string> names() const;                 // sorted
  const TensorInfo& info(const std::string& name) const;  // NotFound naming tensor and folder

  // The tensor as stored (zero copy). NotFound naming the tensor and the folder.
  Tensor get(const std::string& name) const;
  // The tensor converted to compute_dtype (F32, BF16 or F16) on the host; zero
  // copy when it already is. Corrupt "tensor X has shape [..] but the config
  // implies [..]" when the shape differs (-1 in expected_shape matches any size).
  Tensor get_as(const std::string& name, DType compute_dtype, const Shape& expected_shape) const;
  // As get_as, without the shape check.
  Tensor get_as(const std::string& name, DType compute_dtype) const;

  size_t total_bytes() const { return total_bytes_; }                                  // sum of tensor byte sizes
  const std::map<std::string, size_t>& dtype_counts() const { return dtype_counts_; }  // "F32" -> #tensors
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  bool sharded() const { return sharded_; }

  // While a model loads from this store, each tensor get_as converts advances `task` by its
  // checkpoint bytes (the load's progress); nullptr stops. Set while no tensor is being read.
  void report_reads_to(ProgressTask* task) const { read_progress_ = task; }

  // How the matrices read through this store are to be packed (`--quantize`): the layers
  // (models/layers/weight_source.h) read it when they load. Set before a model loads.
  void set_quantization(WeightQuantization q) { quantization_ = std::move(q); }
  const WeightQuantization& quantization() const { return quantization_; }
  // While set, every layer matrix a model load packs by `quantization()` (not the LM head, not
  // tables) is appended here: its name as stored, its [out, in] size, and whether the checkpoint
  // stores it as [in, out] (GPT-2's Conv1D). `ipfs-accelerate quantize` writes these as the
  // checkpoint's packed layers. Set while no model is loading; nullptr stops.
  struct PackedLayer {
    std::string name;
    int64_t out = 0, in = 0;
    bool in_out = false;
  };
  void record_packed_layers_to(std::vector<PackedLayer>* out) const { packed_layers_ = out; }
  void record_packed_layer(PackedLayer layer) const {
    if (packed_layers_) packed_layers_->push_back(std::move(layer));
  }
  // How the checkpoint itself is quantized (config.json's quantization_config: GPTQ), as
  // open() read it; null for a plain checkpoint (formats/checkpoint_quantization.h).
  const CheckpointQuantization* checkpoint_quantization() const { return checkpoint_quantization_.get(); }

 private:
  WeightStore() = default;
  void add_file(std::shared_ptr<SafetensorsFile> f, const std::vector<std::string>* only);
  std::string dir_;
  bool sharded_ = false;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::unordered_map<std::string, size_t> where_;  // tensor name -> index in files_
  size_t total_bytes_ = 0;
  std::map<std::string, size_t> dtype_counts_;
  mutable ProgressTask* read_progress_ = nullptr;
  WeightQuantization quantization_;
  mutable std::vector<PackedLayer>* packed_layers_ = nullptr;
  std::shared_ptr<const CheckpointQuantization> checkpoint_quantization_;
};

// Host conversion between F32, BF16 and F16 (zero copy when already `to`).
// Unsupported for other pairs.
Tensor convert_float_tensor(const Tensor& t, DType to, const std::string& what);

// The safetensors name of a dtype ("F32", "BF16", "BOOL", ...).
const char* safetensors_dtype_name(DType t);

// Writes `tensors` (host tensors, any strides; written contiguous, in the given
// order) to `path` atomically: a temporary file in the same folder, fsync,
// verified by reopening, then renamed over `path`. InvalidArgument for bad
// names (empty, duplicate, "__metadata__") or device tensors. The bytes written
// are reported as a ProgressTask "writing NAME".
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ia
