#include "formats/checkpoint_quantization.h"

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
    fail(ErrorKind::Corrupt, "{}: GPTQ tensor \"{}\" is {} {} but the layer {} needs {} {}", store.dir(), name,
         dtype_name(t.dtype()), shape_str(t.shape()), layer, dtype_name(dtype), shape_str(shape));
  return t.contiguous();
}

uint32_t nibble_of(const int32_t* words, int64_t word, int i) {
  uint32_t w;
  std::memcpy(&w, words + word, 4);
  return (w >> (4 * i)) & 0xfu;
}

}  // namespace

std::shared_ptr<const CheckpointQuantization> read_checkpoint_quantization(const json& config,
                                                                           const std::string& where) {
  auto it = config.find("quantization_config");
  if (it == config.end() || it->is_null()) return nullptr;
  const json& qc = *it;
  if (!qc.is_object()) fail(ErrorKind::Corrupt, "{}: quantization_config is {}, not an object", where, brief_json(qc));
  auto q = std::make_shared<CheckpointQuantization>();
  q->method = field<std::string>(qc, "quant_method", "", where);
  if (q->method != "gptq")
    fail(ErrorKind::Unsupported,
         "{}: quantization_config.quant_method \"{}\" is not supported (pre-quantized checkpoints load as GPTQ 4-bit "
         "with groups of 32 or 128)",
         where, q->method);
  q->bits = static_cast<int>(field<int64_t>(qc, "bits", 0, where));
  if (q->bits != 4) fail(ErrorKind::Unsupported, "{}: GPTQ with {} bits is not supported (4 bits is)", where, q->bits);
  q->group_size = field<int64_t>(qc, "group_size", 128, where);
  if (q->group_size != 32 && q->group_size != 128)
    fail(ErrorKind::Unsupported, "{}: GPTQ group_size {} is not supported (32 or 128 are)", where, q->group_size);
  q->sym = field<bool>(qc, "sym", true, where);
  q->desc_act = field<bool>(qc, "desc_act", false, where);
  const std::string format = field<std::string>(qc, "checkpoint_format", "gptq", where);
  if (format != "gptq" && format != "gptq_v2")
    fail(ErrorKind::Unsupported, "{}: GPTQ checkpoint_format \"{}\" is not supported (gptq or gptq_v2 are)", where,
         format);
  q->zeros_minus_one = format == "gptq";
  return q;
}

bool has_packed_layer(const WeightStore& store, const std::string& base) {
  return store.checkpoint_quantization() != nullptr && store.has(base + ".qweight");
}

Tensor gptq_packed_matrix(const WeightStore& store, const std::string& base, int64_t out, int64_t in,
                          const CheckpointQuantization& q) {
  const int64_t G = q.group_size;
  const std::string layer = fmt::format("{} ({} outputs, {} inputs, groups of {})", base, out, in, G);
  if (in % G != 0 || out % 8 != 0)
    fail(ErrorKind::Corrupt, "{}: GPTQ layer {} cannot be packed in 4 bits (inputs a multiple of {}, outputs of 8)",
         store.dir(), layer, G);
  const int64_t groups = in / G;
  const Tensor qweight = checked(store, base + ".qweight", {in / 8, out}, DType::I32, layer);
  const Tensor qzeros = checked(store, base + ".qzeros", {groups, out / 8}, DType::I32, layer);
  const std::string scales_name = base + ".scales";
  const TensorInfo& si = store.info(scales_name);
  if (si.shape != Shape{groups, out} || !si.dtype || !is_float(*si.dtype))
    fail(ErrorKind::Corrupt, "{}: GPTQ tensor \"{}\" is {} {} but the layer {} needs a float {}", store.dir(),
         scales_name, si.st_dtype, shape_str(si.shape), layer, shape_str(Shape{groups, out}));
  const Tensor scales = store.get_as(scales_name, DType::F32, {groups, out});
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
  const DType format = G == 32 ? DType::Q4ZG32 : DType::Q4ZG128;
  const int64_t rb = quantized_row_bytes(format, in);
  Tensor packed = Tensor::zeros({out, rb}, format);
  const auto* qw = qweight.data<int32_t>();
  const auto* qz = qzeros.data<int32_t>();
  const float* sc = scales.data<float>();
  for (int64_t j = 0; j < out; ++j) {
    uint8_t* row = packed.data<uint8_t>() + j * rb;
    for (int64_t k = 0; k < in; ++k) {
      const auto v = static_cast<uint8_t>(nibble_of(qw, (k / 8) * out + j, static_cast<int>(k % 8)));
      uint8_t& b = row[k / kQuantChunk * (kQuantChunk / 2) + k % (kQuantChunk / 2)];
      b = static_cast<uint8_t>(k % kQuantChunk < kQuantChunk / 2 ? (b | v) : (b | (v << 4)));
    }
    uint8_t* scale_out = row + quant_scales_offset(format, in);
    uint8_t* zero_out = row + quant_zeros_offset(format, in);
    for (int64_t g = 0; g < groups; ++g) {
      const uint16_t s16 = f32_to_f16(sc[g * out + j]);
      std::memcpy(scale_out + 2 * g, &s16, 2);
      const uint32_t z = nibble_of(qz, g * (out / 8) + j / 8, static_cast<int>(j % 8));
      zero_out[g] = static_cast<uint8_t>(z + (q.zeros_minus_one ? 1 : 0));  // 0..16: "gptq" keeps z = 15 + 1
    }
  }
  return packed;
}

}  // namespace ia
