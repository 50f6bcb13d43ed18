#include "formats/checkpoint_quantization.h"

#include <cctype>
#include <cstring>

#include "core/error.h"
#include "core/quantization.h"
#include "formats/json_messages.h"
#include "formats/safetensors.h"

namespace ia {
namespace {

using json = nlohmann::json;

template <typename T>
T field(const json& qc, const char* key, T def, const std::string& where) {
  auto it = qc.find(key);
  if (it == qc.end() || it->is_null()) return def;
  if constexpr (std::is_same_v<T, bool>) {
    if (!it->is_boolean())
      fail(ErrorKind::Corrupt, "{}: quantization_config.{} is {}, not true or false", where, key, brief_json(*it));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string())
      fail(ErrorKind::Corrupt, "{}: quantization_config.{} is {}, not a string", where, key, brief_json(*it));
  } else {
    if (!it->is_number_integer())
      fail(ErrorKind::Corrupt, "{}: quantization_config.{} is {}, not an integer", where, key, brief_json(*it));
  }
  return it->get<T>();
}

// The tensor `name` as stored, checked to be `dtype` of `shape`.
Tensor checked(const WeightStore& store, const std::string& name, const Shape& shape, DType dtype,
               const std::string& layer) {
  Tensor t = store.get(name);
  if (t.dtype() != dtype || t.shape() != shape)
    fail(ErrorKind::Corrupt, "{}: tensor \"{}\" is {} {} but the layer {} needs {} {}", store.dir(), name,
         dtype_name(t.dtype()), shape_str(t.shape()), layer, dtype_name(dtype), shape_str(shape));
  return t.contiguous();
}

}  // namespace

DType CheckpointQuantization::packed_format() const {
  if (bits == 8) return DType::Q8;
  return group_size == 128 ? DType::Q4ZG128 : DType::Q4ZG32;
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void read_gptq(const json& qc, const std::string& where, CheckpointQuantization& q) {
  q.bits = static_cast<int>(field<int64_t>(qc, "bits", 0, where));
  if (q.bits != 4 && q.bits != 8)
    fail(ErrorKind::Unsupported, "{}: GPTQ with {} bits is not supported (4 or 8 bits are)", where, q.bits);
  q.group_size = field<int64_t>(qc, "group_size", 128, where);
  q.sym = field<bool>(qc, "sym", true, where);
  if (q.bits == 4 && q.group_size != 32 && q.group_size != 128)
    fail(ErrorKind::Unsupported, "{}: GPTQ 4-bit group_size {} is not supported (32 or 128 are)", where, q.group_size);
  if (q.bits == 8 && q.group_size != -1)
    fail(ErrorKind::Unsupported, "{}: GPTQ 8-bit group_size {} is not supported (-1, one scale per output channel, is)",
         where, q.group_size);
  if (q.bits == 8 && !q.sym)
    fail(ErrorKind::Unsupported, "{}: GPTQ 8-bit with sym false is not supported (symmetric 8-bit is)", where);
  q.desc_act = field<bool>(qc, "desc_act", false, where);
  const std::string format = field<std::string>(qc, "checkpoint_format", "gptq", where);
  if (format != "gptq" && format != "gptq_v2")
    fail(ErrorKind::Unsupported, "{}: GPTQ checkpoint_format \"{}\" is not supported (gptq or gptq_v2 are)", where,
         format);
  q.zeros_minus_one = format == "gptq";
}

// AutoAWQ's config names the fields w_bit / q_group_size; transformers' bits / group_size.
void read_awq(const json& qc, const std::string& where, CheckpointQuantization& q) {
  const bool transformers_names = qc.contains("bits") || qc.contains("group_size");
  q.bits = static_cast<int>(field<int64_t>(qc, transformers_names ? "bits" : "w_bit", 4, where));
  if (q.bits != 4) fail(ErrorKind::Unsupported, "{}: AWQ with {} bits is not supported (4 bits is)", where, q.bits);
  q.group_size = field<int64_t>(qc, transformers_names ? "group_size" : "q_group_size", 128, where);
  if (q.group_size != 32 && q.group_size != 64 && q.group_size != 128)
    fail(ErrorKind::Unsupported, "{}: AWQ group_size {} is not supported (32, 64 or 128 are)", where, q.group_size);
  const std::string version = lower(field<std::string>(qc, "version", "gemm", where));
  if (version != "gemm")
    fail(ErrorKind::Unsupported,
         "{}: AWQ version \"{}\" is not supported (gemm is; gemv, exllama, marlin and ipex pack differently)", where,
         version);
  if (!field<bool>(qc, "zero_point", true, where))
    fail(ErrorKind::Unsupported, "{}: AWQ with zero_point false is not supported (with a zero point is)", where);
  q.sym = false;
  q.zeros_minus_one = false;
}

}  // namespace

std::shared_ptr<const CheckpointQuantization> read_checkpoint_quantization(const json& config,
                                                                           const std::string& where) {
  auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null()) return nullptr;
  const json& qc = *it;
  if (!qc.is_object()) fail(ErrorKind::Corrupt, "{}: quantization_config is {}, not an object", where, brief_json(qc));
  auto q = std::make_shared<CheckpointQuantization>();
  q->method = lower(field<std::string>(qc, "quant_method", "", where));
  if (q->method == "gptq") {
    read_gptq(qc, where, *q);
  } else if (q->method == "awq") {
    read_awq(qc, where, *q);
  } else {
    fail(ErrorKind::Unsupported,
         "{}: quantization_config.quant_method \"{}\" is not supported (pre-quantized checkpoints load as GPTQ 4-bit "
         "with groups of 32 or 128, GPTQ 8-bit per channel, or AWQ gemm 4-bit)",
         where, q->method);
  }
  return q;
}

bool has_packed_layer(const WeightStore& store, const std::string& base) {
  return store.checkpoint_quantization() != nullptr && store.has(base + ".qweight");
}

Tensor checkpoint_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                                const CheckpointQuantization& q) {
  return q.method == "awq" ? awq_packed_matrix(store, base, out, in, q) : gptq_packed_matrix(store, base, out, in, q);
}

namespace {

// The float tensor `name` of `shape` as f32.
Tensor checked_scales(const WeightStore& store, const std::string& name, const Shape& shape, const std::string& layer) {
  const TensorInfo& si = store.info(name);
  if (si.shape != shape || !si.dtype || !is_float(*si.dtype))
    fail(ErrorKind::Corrupt, "{}: tensor \"{}\" is {} {} but the layer {} needs a float {}", store.dir(), name,
         si.st_dtype, shape_str(si.shape), layer, shape_str(shape));
  return store.get_as(name, DType::F32, shape);
}

void put_nibble(uint8_t* row, int64_t k, uint8_t v) {
  uint8_t& b = row[k / kQuantChunk * (kQuantChunk / 2) + k % (kQuantChunk / 2)];
  b = static_cast<uint8_t>(k % kQuantChunk < kQuantChunk / 2 ? (b | v) : (b | (v << 4)));
}

uint32_t word_bits(const int32_t* words, int64_t word, int shift, uint32_t mask) {
  uint32_t w;
  std::memcpy(&w, words + word, 4);
  return (w >> shift) & mask;
}

// GPTQ 8-bit, one group per output: q8 rows of q - 128 and the scale.
Tensor gptq8_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                           const CheckpointQuantization& q, const std::string& layer) {
  if (in % 4 != 0 || out % 4 != 0)
    fail(ErrorKind::Corrupt, "{}: GPTQ layer {} cannot be packed in 8 bits (inputs and outputs a multiple of 4)",
         store.dir(), layer);
  const Tensor qweight = checked(store, base + ".qweight", {in / 4, out}, DType::I32, layer);
  const Tensor qzeros = checked(store, base + ".qzeros", {1, out / 4}, DType::I32, layer);
  const Tensor scales = checked_scales(store, base + ".scales", {1, out}, layer);
  if (store.has(base + ".g_idx")) {
    const Tensor g_idx = checked(store, base + ".g_idx", {in}, DType::I32, layer);
    for (int64_t k = 0; k < in; ++k)
      if (g_idx.data<int32_t>()[k] != 0)
        fail(ErrorKind::Corrupt, "{}: GPTQ 8-bit layer {} has one group per output but g_idx[{}] is {}", store.dir(),
             base, k, g_idx.data<int32_t>()[k]);
  }
  const int64_t rb = quantized_row_bytes(DType::Q8, in);
  Tensor packed = Tensor::zeros({out, rb}, DType::Q8);
  const auto* qw = qweight.data<int32_t>();
  const auto* qz = qzeros.data<int32_t>();
  for (int64_t j = 0; j < out; ++j) {
    const uint32_t zero = word_bits(qz, j / 4, static_cast<int>(8 * (j % 4)), 0xffu) + (q.zeros_minus_one ? 1 : 0);
    if (zero != 128)
      fail(ErrorKind::Unsupported,
           "{}: GPTQ 8-bit layer {} has zero point {} for output {} (only symmetric 8-bit, zero 128, loads)",
           store.dir(), base, zero, j);
    auto* row = reinterpret_cast<int8_t*>(packed.data<uint8_t>() + j * rb);
    for (int64_t k = 0; k < in; ++k)
      row[k] = static_cast<int8_t>(
          static_cast<int>(word_bits(qw, (k / 4) * out + j, static_cast<int>(8 * (k % 4)), 0xffu)) - 128);
    const float scale = f16_to_f32(f32_to_f16(scales.data<float>()[j]));
    std::memcpy(packed.data<uint8_t>() + j * rb + quant_scales_offset(DType::Q8, in), &scale, 4);
  }
  return packed;
}

}  // namespace

Tensor gptq_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                          const CheckpointQuantization& q) {
  const int64_t G = q.group_size;
  const std::string layer = fmt::format("{} ({} outputs, {} inputs, groups of {})", base, out, in, G);
  if (q.bits == 8) return gptq8_packed_matrix(store, base, out, in, q, layer);
  if (in % G != 0 || out % 8 != 0)
    fail(ErrorKind::Corrupt, "{}: GPTQ layer {} cannot be packed in 4 bits (inputs a multiple of {}, outputs of 8)",
         store.dir(), layer, G);
  const int64_t groups = in / G;
  const Tensor qweight = checked(store, base + ".qweight", {in / 8, out}, DType::I32, layer);
  const Tensor qzeros = checked(store, base + ".qzeros", {groups, out / 8}, DType::I32, layer);
  const Tensor scales = checked_scales(store, base + ".scales", {groups, out}, layer);
  if (store.has(base + ".g_idx")) {
    const Tensor g_idx = checked(store, base + ".g_idx", {in}, DType::I32, layer);
    for (int64_t k = 0; k < in; ++k)
      if (g_idx.data<int32_t>()[k] != k / G)
        fail(ErrorKind::Unsupported,
             "{}: GPTQ layer {} has an act-order g_idx (desc_act) that does not keep its inputs in group order; such "
             "checkpoints are not supported yet",
             store.dir(), base);
  } else if (q.desc_act) {
    fail(ErrorKind::Corrupt, "{}: GPTQ layer {} is act-order (desc_act) but has no \"{}.g_idx\"", store.dir(), base,
         base);
  }
  const auto* qw = qweight.data<int32_t>();
  const auto* qz = qzeros.data<int32_t>();
  const float* sc = scales.data<float>();
  const auto zero_of = [&](int64_t g, int64_t j) {  // 0..16: "gptq" keeps z = 15 + 1
    return word_bits(qz, g * (out / 8) + j / 8, static_cast<int>(4 * (j % 8)), 0xfu) + (q.zeros_minus_one ? 1 : 0);
  };
  // A symmetric layer (every zero 8) loads as q4_g*, the grid `--quantize q4` packs: no zero
  // points to store, and the same kernels as a model quantized at load.
  bool middle_zeros = q.sym;
  for (int64_t g = 0; g < groups && middle_zeros; ++g)
    for (int64_t j = 0; j < out && middle_zeros; ++j) middle_zeros = zero_of(g, j) == 8;
  const DType format = middle_zeros ? (G == 32 ? DType::Q4G32 : DType::Q4G128) : q.packed_format();
  const int64_t rb = quantized_row_bytes(format, in);
  Tensor packed = Tensor::zeros({out, rb}, format);
  for (int64_t j = 0; j < out; ++j) {
    uint8_t* row = packed.data<uint8_t>() + j * rb;
    for (int64_t k = 0; k < in; ++k)
      put_nibble(row, k, static_cast<uint8_t>(word_bits(qw, (k / 8) * out + j, static_cast<int>(4 * (k % 8)), 0xfu)));
    uint8_t* scale_out = row + quant_scales_offset(format, in);
    for (int64_t g = 0; g < groups; ++g) {
      const uint16_t s16 = f32_to_f16(sc[g * out + j]);
      std::memcpy(scale_out + 2 * g, &s16, 2);
      if (!middle_zeros) row[quant_zeros_offset(format, in) + g] = static_cast<uint8_t>(zero_of(g, j));
    }
  }
  return packed;
}

Tensor awq_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                         const CheckpointQuantization& q) {
  const int64_t G = q.group_size;
  const std::string layer = fmt::format("{} ({} outputs, {} inputs, groups of {})", base, out, in, G);
  if (in % G != 0 || out % 8 != 0)
    fail(ErrorKind::Corrupt, "{}: AWQ layer {} cannot be packed in 4 bits (inputs a multiple of {}, outputs of 8)",
         store.dir(), layer, G);
  const int64_t groups = in / G;
  const Tensor qweight = checked(store, base + ".qweight", {in, out / 8}, DType::I32, layer);
  const Tensor qzeros = checked(store, base + ".qzeros", {groups, out / 8}, DType::I32, layer);
  const Tensor scales = checked_scales(store, base + ".scales", {groups, out}, layer);
  // Groups of 64 load as pairs of groups of 32 with the same scale and zero: exact.
  const DType format = q.packed_format();
  const int64_t split = G / quant_group_size(format);
  const int64_t rb = quantized_row_bytes(format, in);
  Tensor packed = Tensor::zeros({out, rb}, format);
  const auto* qw = qweight.data<int32_t>();
  const auto* qz = qzeros.data<int32_t>();
  const float* sc = scales.data<float>();
  int shift_of[8];  // output 8c + o lies in nibble i where kAwqOrder[i] == o
  for (int i = 0; i < 8; ++i) shift_of[kAwqOrder[i]] = 4 * i;
  for (int64_t j = 0; j < out; ++j) {
    uint8_t* row = packed.data<uint8_t>() + j * rb;
    const int shift = shift_of[j % 8];
    for (int64_t k = 0; k < in; ++k)
      put_nibble(row, k, static_cast<uint8_t>(word_bits(qw, k * (out / 8) + j / 8, shift, 0xfu)));
    uint8_t* scale_out = row + quant_scales_offset(format, in);
    uint8_t* zero_out = row + quant_zeros_offset(format, in);
    for (int64_t g = 0; g < groups; ++g) {
      const uint16_t s16 = f32_to_f16(sc[g * out + j]);
      const auto z = static_cast<uint8_t>(word_bits(qz, g * (out / 8) + j / 8, shift, 0xfu));
      for (int64_t h = 0; h < split; ++h) {
        std::memcpy(scale_out + 2 * (g * split + h), &s16, 2);
        zero_out[g * split + h] = z;
      }
    }
  }
  return packed;
}

}  // namespace ia
