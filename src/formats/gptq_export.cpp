#include "formats/gptq_export.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/quantization.h"
#include "core/thread_pool.h"
#include "formats/checkpoint_quantization.h"
#include "formats/json_messages.h"

namespace ia {
namespace fs = std::filesystem;
namespace {

int nibble_at(const uint8_t* row, int64_t k) {
  const uint8_t b = row[k / kQuantChunk * (kQuantChunk / 2) + k % (kQuantChunk / 2)];
  return k % kQuantChunk < kQuantChunk / 2 ? (b & 0x0f) : (b >> 4);
}

void or_bits(int32_t* words, int64_t word, uint32_t value, int shift) {
  uint32_t w;
  std::memcpy(&w, words + word, 4);
  w |= value << shift;
  std::memcpy(words + word, &w, 4);
}

bool f16_exact(float s) {
  return f16_to_f32(f32_to_f16(s)) == s;
}

std::string strip_weight(const std::string& name) {
  static constexpr std::string_view kSuffix = ".weight";
  if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return {};
  return name.substr(0, name.size() - kSuffix.size());
}

// The layer's name within its block ("self_attn.q_proj" of "model.layers.3.self_attn.q_proj").
std::string name_in_block(const std::string& base) {
  static const std::regex block(R"(\.\d+\.)");
  std::smatch m;
  if (!std::regex_search(base, m, block)) return base;
  return m.suffix().str();
}

std::string regex_escaped(const std::string& s) {
  std::string r;
  for (char c : s) {
    if (std::strchr(".^$|()[]{}*+?\\", c)) r += '\\';
    r += c;
  }
  return r;
}

// Model weight files: what the folder's new model.safetensors replaces.
bool is_weight_file(const std::string& name) {
  if (name == "model.safetensors" || name == "model.safetensors.index.json" || name == "config.json" ||
      name == "quantize_config.json")
    return true;
  const auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return (name.rfind("model-", 0) == 0 && ends(".safetensors")) || name.rfind("pytorch_model", 0) == 0;
}

}  // namespace

bool gptq_v1_storable(const Tensor& packed, int64_t in) {
  const DType t = packed.dtype();
  if (!quant_has_zero_point(t)) return true;
  const int64_t rb = quantized_row_bytes(t, in), groups = in / quant_group_size(t);
  for (int64_t j = 0; j < packed.size(0); ++j) {
    const uint8_t* zeros = packed.data<uint8_t>() + j * rb + quant_zeros_offset(t, in);
    for (int64_t g = 0; g < groups; ++g)
      if (zeros[g] == 0) return false;
  }
  return true;
}

Tensor quantize_q8_f16_scale(const Tensor& w) {
  IA_CHECK(w.dim() == 2 && w.dtype() == DType::F32, "quantize_q8_f16_scale: expects an f32 matrix, got {}",
           w.describe());
  const Tensor f = w.contiguous();
  const int64_t n = f.size(0), k = f.size(1), rb = quantized_row_bytes(DType::Q8, k);
  Tensor out = Tensor::zeros({n, rb}, DType::Q8);
  parallel_for(n, 1, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      const float* v = f.data<float>() + j * k;
      float amax = 0;
      for (int64_t i = 0; i < k; ++i) amax = std::max(amax, std::fabs(v[i]));
      const float scale = f16_to_f32(f32_to_f16(amax / 127.0f));
      auto* q = reinterpret_cast<int8_t*>(out.data<uint8_t>() + j * rb);
      for (int64_t i = 0; i < k; ++i)
        q[i] = static_cast<int8_t>(scale > 0 ? std::clamp(std::nearbyint(v[i] / scale), -127.0f, 127.0f) : 0.0f);
      std::memcpy(out.data<uint8_t>() + j * rb + quant_scales_offset(DType::Q8, k), &scale, 4);
    }
  });
  return out;
}

GptqLayerTensors gptq_layer_tensors(const Tensor& packed, int64_t in, bool zeros_minus_one) {
  const DType t = packed.dtype();
  IA_CHECK(is_quantized(t) && packed.dim() == 2 && packed.size(1) == quantized_row_bytes(t, in),
           "gptq_layer_tensors: {} is not a packed matrix of {} inputs", packed.describe(), in);
  const Tensor p = packed.contiguous();
  const int64_t out = p.size(0), rb = p.size(1);
  const int bits = t == DType::Q8 ? 8 : 4;
  const int per_word = 32 / bits;
  const int64_t group = t == DType::Q8 ? in : quant_group_size(t);
  const int64_t groups = in / group;
  if (in % per_word != 0 || out % per_word != 0 || in % group != 0)
    fail(ErrorKind::InvalidArgument, "GPTQ {}-bit: a matrix of {} outputs and {} inputs cannot be packed ({} per word)",
         bits, out, in, per_word);
  GptqLayerTensors g;
  g.qweight = Tensor::zeros({in / per_word, out}, DType::I32);
  g.qzeros = Tensor::zeros({groups, out / per_word}, DType::I32);
  g.scales = Tensor::empty({groups, out}, DType::F16);
  g.g_idx = Tensor::empty({in}, DType::I32);
  auto* qw = g.qweight.data<int32_t>();
  auto* qz = g.qzeros.data<int32_t>();
  auto* sc = g.scales.data<uint16_t>();
  const int minus = zeros_minus_one ? 1 : 0;
  for (int64_t k = 0; k < in; ++k) g.g_idx.data<int32_t>()[k] = static_cast<int32_t>(k / group);
  for (int64_t j = 0; j < out; ++j) {
    const uint8_t* row = p.data<uint8_t>() + j * rb;
    const int shift_j = static_cast<int>(bits * (j % per_word));
    if (t == DType::Q8) {
      float scale;
      std::memcpy(&scale, row + quant_scales_offset(t, in), 4);
      if (!f16_exact(scale))
        fail(ErrorKind::InvalidArgument, "GPTQ 8-bit: output {} has scale {} that f16 cannot hold", j, scale);
      const auto* q = reinterpret_cast<const int8_t*>(row);
      for (int64_t k = 0; k < in; ++k)
        or_bits(qw, (k / 4) * out + j, static_cast<uint32_t>(q[k] + 128), static_cast<int>(8 * (k % 4)));
      sc[j] = f32_to_f16(scale);
      or_bits(qz, j / 4, static_cast<uint32_t>(128 - minus), shift_j);
      continue;
    }
    for (int64_t k = 0; k < in; ++k)
      or_bits(qw, (k / 8) * out + j, static_cast<uint32_t>(nibble_at(row, k)), static_cast<int>(4 * (k % 8)));
    const uint8_t* scales = row + quant_scales_offset(t, in);
    const uint8_t* zeros = row + quant_zeros_offset(t, in);
    for (int64_t gi = 0; gi < groups; ++gi) {
      std::memcpy(&sc[gi * out + j], scales + 2 * gi, 2);
      const int zero = quant_has_zero_point(t) ? zeros[gi] : 8;
      if (zero - minus < 0 || zero - minus > 15)
        fail(ErrorKind::InvalidArgument,
             "GPTQ 4-bit: output {} group {} has zero point {}, not storable in the {} format", j, gi, zero,
             zeros_minus_one ? "gptq" : "gptq_v2");
      or_bits(qz, gi * (out / 8) + j / 8, static_cast<uint32_t>(zero - minus), shift_j);
    }
  }
  return g;
}

bool gptq_packs(const WeightQuantization& method, const WeightStore::PackedLayer& layer) {
  const int per_word = *method.layers == DType::Q8 ? 4 : 8;
  return !strip_weight(layer.name).empty() && method.layer_format(layer.in) == *method.layers &&
         layer.out % per_word == 0 && layer.in % per_word == 0;
}

int64_t gptq_tensor_bytes(const WeightStore& store, const std::vector<WeightStore::PackedLayer>& layers,
                          const std::string& method) {
  const WeightQuantization wq = weight_quantization(method);
  if (!wq.enabled()) return static_cast<int64_t>(store.total_bytes());
  const bool int8 = *wq.layers == DType::Q8;
  const int64_t bits = int8 ? 8 : 4;
  int64_t bytes = static_cast<int64_t>(store.total_bytes());
  std::set<std::string> seen;
  for (const WeightStore::PackedLayer& l : layers) {
    if (!gptq_packs(wq, l) || !seen.insert(l.name).second) continue;
    const int64_t groups = int8 ? 1 : l.in / quant_group_size(*wq.layers);
    bytes -= static_cast<int64_t>(store.info(l.name).nbytes());
    bytes += l.in * l.out * bits / 8 + groups * l.out * bits / 8 + groups * l.out * 2 + l.in * 4;
  }
  return bytes;
}

GptqExportSummary write_gptq_folder(const WeightStore& store, const std::vector<WeightStore::PackedLayer>& layers,
                                    const std::string& method, const std::string& out, bool force) {
  if (const CheckpointQuantization* cq = store.checkpoint_quantization())
    fail(ErrorKind::InvalidArgument, "{}: is already quantized (quant_method {}); quantize a model with float weights",
         store.dir(), cq->method);
  const WeightQuantization wq = weight_quantization(method);
  if (!wq.enabled()) fail(ErrorKind::InvalidArgument, "quantize: --method none writes nothing; give a method");
  const fs::path target = fs::absolute(out).lexically_normal();
  std::error_code ec;
  if (fs::exists(target, ec)) {
    if (!fs::is_directory(target, ec)) fail(ErrorKind::InvalidArgument, "--out {}: exists and is not a folder", out);
    if (fs::equivalent(target, store.dir(), ec))
      fail(ErrorKind::InvalidArgument, "--out {}: is the model's own folder", out);
    if (!fs::is_empty(target, ec) && !force)
      fail(ErrorKind::InvalidArgument, "--out {}: exists and is not empty (--force replaces it)", out);
  }

  GptqExportSummary summary;
  summary.method = method;
  const bool int8 = *wq.layers == DType::Q8;
  summary.bits = int8 ? 8 : 4;
  summary.group_size = int8 ? -1 : quant_group_size(*wq.layers);
  const bool sym = !quant_has_zero_point(*wq.layers);
  const int per_word = 32 / summary.bits;

  // Our grid of every layer the method packs (the same rounding `--quantize` uses).
  struct Layer {
    std::string base;
    int64_t in;
    Tensor packed;
  };
  std::vector<Layer> packed;
  std::set<std::string> seen;
  for (const WeightStore::PackedLayer& l : layers) {
    const std::string base = strip_weight(l.name);
    if (base.empty() || !seen.insert(base).second) continue;
    if (!gptq_packs(wq, l)) {
      summary.kept.push_back(base);
      continue;
    }
    Tensor f = store.get_as(l.name, DType::F32, l.in_out ? Shape{l.in, l.out} : Shape{l.out, l.in});
    if (l.in_out) f = f.transpose(0, 1).contiguous();
    packed.push_back({base, l.in, int8 ? quantize_q8_f16_scale(f) : quantize_matrix(f, *wq.layers)});
    summary.packed.push_back(base);
  }
  if (packed.empty())
    fail(ErrorKind::InvalidArgument,
         "quantize --method {}: no layer of {} can be packed so (inputs must be a multiple of "
         "{}, outputs of {})",
         method, store.dir(), int8 ? 4 : summary.group_size, per_word);
  // "gptq" (v1) stores zero - 1, so a zero point of 0 cannot be written: such a grid goes out as
  // "gptq_v2", which stores the zeros as they are.
  bool v1 = true;
  for (const Layer& l : packed) v1 = v1 && gptq_v1_storable(l.packed, l.in);
  summary.checkpoint_format = v1 ? "gptq" : "gptq_v2";

  std::map<std::string, Tensor> tensors;
  std::set<std::string> packed_weights;
  for (const Layer& l : packed) {
    GptqLayerTensors g = gptq_layer_tensors(l.packed, l.in, v1);
    tensors[l.base + ".qweight"] = g.qweight;
    tensors[l.base + ".qzeros"] = g.qzeros;
    tensors[l.base + ".scales"] = g.scales;
    tensors[l.base + ".g_idx"] = g.g_idx;
    packed_weights.insert(l.base + ".weight");
  }
  for (const std::string& name : store.names())
    if (!packed_weights.count(name)) tensors[name] = store.get(name);

  nlohmann::json qc;
  qc["quant_method"] = "gptq";
  qc["bits"] = summary.bits;
  qc["group_size"] = summary.group_size;
  qc["sym"] = sym;
  qc["desc_act"] = false;
  qc["static_groups"] = false;
  qc["true_sequential"] = true;
  qc["checkpoint_format"] = summary.checkpoint_format;
  qc["pack_dtype"] = "int32";
  if (!summary.kept.empty()) {
    // Layers of a block left unpacked: optimum reads the block's packed names, GPTQModel and
    // vLLM the negative `dynamic` rules.
    std::set<std::string> in_block;
    for (const std::string& b : summary.packed) in_block.insert(name_in_block(b));
    qc["modules_in_block_to_quantize"] =
        nlohmann::json::array({std::vector<std::string>(in_block.begin(), in_block.end())});
    std::set<std::string> skipped;
    for (const std::string& b : summary.kept) skipped.insert(name_in_block(b));
    nlohmann::json dynamic = nlohmann::json::object();
    for (const std::string& s : skipped) dynamic["-:.*\\." + regex_escaped(s) + "$"] = nlohmann::json::object();
    qc["dynamic"] = dynamic;
  }
  qc["meta"] = {{"quantizer", {"ipfs-accelerate:0.1.0"}},
                {"method", fmt::format("round to nearest, as --quantize {} (docs/quantization.md)", method)}};
  nlohmann::json config = read_json_file((fs::path(store.dir()) / "config.json").string());
  config["quantization_config"] = qc;

  const fs::path parent = target.parent_path();
  fs::create_directories(parent);
  const fs::path tmp = parent / fmt::format(".{}.quantize-tmp.{}", target.filename().string(), ::getpid());
  fs::remove_all(tmp);
  try {
    fs::create_directory(tmp);
    for (const fs::directory_entry& e : fs::directory_iterator(store.dir())) {
      const std::string name = e.path().filename().string();
      if (is_weight_file(name) || name.rfind('.', 0) == 0) continue;
      fs::copy(e.path(), tmp / name, fs::copy_options::recursive);
    }
    std::ofstream(tmp / "config.json") << config.dump(2) << "\n";
    std::ofstream(tmp / "quantize_config.json") << qc.dump(2) << "\n";
    std::vector<std::pair<std::string, Tensor>> list(tensors.begin(), tensors.end());
    tensors.clear();
    write_safetensors((tmp / "model.safetensors").string(), list, {{"format", "pt"}});
    list.clear();

    // Read back through the loader: every packed layer must come back as exactly our grid.
    auto back = WeightStore::open(tmp.string());
    const CheckpointQuantization* q = back->checkpoint_quantization();
    if (!q) fail(ErrorKind::Internal, "{}: wrote no quantization_config", tmp.string());
    for (const Layer& l : packed) {
      const Tensor read = checkpoint_packed_matrix(*back, l.base, l.packed.size(0), l.in, *q);
      if (read.dtype() != l.packed.dtype() || read.nbytes() != l.packed.nbytes() ||
          std::memcmp(read.raw(), l.packed.contiguous().raw(), read.nbytes()) != 0)
        fail(ErrorKind::Internal, "{}: layer {} reads back differently from what was packed", tmp.string(), l.base);
    }
    summary.bytes = static_cast<int64_t>(fs::file_size(tmp / "model.safetensors"));
    back.reset();

    if (fs::exists(target)) {
      const fs::path old = parent / fmt::format(".{}.quantize-old.{}", target.filename().string(), ::getpid());
      fs::rename(target, old);
      fs::rename(tmp, target);
      fs::remove_all(old);
    } else {
      fs::rename(tmp, target);
    }
  } catch (...) {
    std::error_code ignore;
    fs::remove_all(tmp, ignore);
    throw;
  }
  return summary;
}

}  // namespace ia
