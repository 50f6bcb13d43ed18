#include "models/layers/weight_source.h"

#include <string_view>

#include "core/error.h"
#include "core/quantization.h"
#include "core/storage.h"
#include "formats/checkpoint_quantization.h"
#include "ops/ops.h"

namespace ia {
namespace {

// The parts as one [sum rows, cols] tensor over the mapped checkpoint when they lie there back
// to back, whole and in order (no copy, nothing resident twice); undefined otherwise.
Tensor joined_in_place(const std::vector<Tensor>& parts) {
  std::shared_ptr<MappedStorage> span;
  int64_t rows = 0;
  for (const Tensor& p : parts) {
    auto mapped = std::dynamic_pointer_cast<MappedStorage>(p.storage());
    if (!mapped || !p.is_contiguous() || p.raw() != mapped->data() || p.nbytes() != mapped->size_bytes() ||
        p.dtype() != parts[0].dtype() || p.dim() != 2 || p.size(1) != parts[0].size(1))
      return {};
    span = span ? span->joined_with(*mapped) : mapped;
    if (!span) return {};
    rows += p.size(0);
  }
  const int64_t cols = parts[0].size(1);
  return Tensor(span, 0, {rows, cols}, {cols, 1}, parts[0].dtype());
}

// The layer a matrix name belongs to ("...q_proj" of "...q_proj.weight"); empty when the name
// is not a layer's weight.
std::string layer_of(const std::string& name) {
  static constexpr std::string_view kSuffix = ".weight";
  if (name.size() <= kSuffix.size() || name.compare(name.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0)
    return {};
  return name.substr(0, name.size() - kSuffix.size());
}

}  // namespace

bool WeightSource::has(const std::string& name) const {
  if (store_->has(prefix_ + name)) return true;
  const std::string layer = layer_of(prefix_ + name);
  return !layer.empty() && has_packed_layer(*store_, layer);
}

Tensor WeightSource::checkpoint_packed(const std::string& name, int64_t rows, int64_t cols) const {
  const std::string layer = layer_of(prefix_ + name);
  if (layer.empty() || !has_packed_layer(*store_, layer)) return {};
  return checkpoint_packed_matrix(*store_, layer, rows, cols, *store_->checkpoint_quantization());
}

WeightSource::WeightSource(const WeightStore& store, std::string prefix, DType compute_dtype, Device device,
                           WeightLayout layout)
    : store_(&store),
      prefix_(std::move(prefix)),
      compute_dtype_(compute_dtype),
      device_(device),
      layout_(layout),
      matrix_bytes_(std::make_shared<int64_t>(0)) {}

void WeightSource::require(const std::vector<std::string>& names, const std::string& needed_by) const {
  for (const auto& n : names)
    if (!has(n))
      fail(ErrorKind::NotFound, "{}: no tensor \"{}\" in the checkpoint ({} needs it)", store_->dir(), prefix_ + n,
           needed_by);
}

Tensor WeightSource::vector(const std::string& name, const Shape& shape) const {
  return ops::to_device(store_->get_as(prefix_ + name, DType::F32, shape), device_);
}

Tensor WeightSource::stacked_vectors(const std::vector<std::string>& names, const std::vector<int64_t>& sizes) const {
  std::vector<Tensor> parts;
  for (size_t i = 0; i < names.size(); ++i) parts.push_back(store_->get_as(prefix_ + names[i], DType::F32, {sizes[i]}));
  return ops::to_device(parts.size() == 1 ? parts[0] : concat_rows(parts), device_);
}

Tensor WeightSource::matrix_host(const std::string& name, int64_t rows, int64_t cols, WeightLayout layout) const {
  if (layout == WeightLayout::InOut)
    return store_->get_as(prefix_ + name, compute_dtype_, {cols, rows}).transpose(0, 1).contiguous();
  return store_->get_as(prefix_ + name, compute_dtype_, {rows, cols});
}

Tensor WeightSource::placed_matrix(const Tensor& host) const {
  *matrix_bytes_ += static_cast<int64_t>(host.nbytes());
  return ops::to_device(host, device_);
}

Tensor WeightSource::packed_host(const std::string& name, int64_t rows, int64_t cols, WeightLayout layout,
                                 DType format) const {
  // Quantized from the checkpoint's own precision, not from the compute dtype's rounding.
  Tensor f =
      store_->get_as(prefix_ + name, DType::F32, layout == WeightLayout::InOut ? Shape{cols, rows} : Shape{rows, cols});
  if (layout == WeightLayout::InOut) f = f.transpose(0, 1).contiguous();
  return quantize_matrix(f, format);
}

Tensor WeightSource::matrix(const std::string& name, int64_t rows, int64_t cols) const {
  if (Tensor packed = checkpoint_packed(name, rows, cols); packed.defined()) return placed_matrix(packed);
  const WeightQuantization& q = store_->quantization();
  if (q.enabled()) {
    store_->record_packed_layer({prefix_ + name, rows, cols, layout_ == WeightLayout::InOut});
    return placed_matrix(packed_host(name, rows, cols, layout_, q.layer_format(cols)));
  }
  return placed_matrix(matrix_host(name, rows, cols, layout_));
}

Tensor WeightSource::matrix_out_in(const std::string& name, int64_t rows, int64_t cols) const {
  const WeightQuantization& q = store_->quantization();
  if (q.head && quantizable(*q.head, cols))
    return placed_matrix(packed_host(name, rows, cols, WeightLayout::OutIn, *q.head));
  return placed_matrix(matrix_host(name, rows, cols, WeightLayout::OutIn));
}

Tensor WeightSource::stacked_matrices(const std::vector<std::string>& names, const std::vector<int64_t>& rows,
                                      int64_t cols) const {
  IA_CHECK(names.size() == rows.size() && !names.empty(), "weights: {} names for {} row counts", names.size(),
           rows.size());
  if (names.size() == 1) return matrix(names[0], rows[0], cols);
  if (Tensor first = checkpoint_packed(names[0], rows[0], cols); first.defined()) {
    // A pre-quantized checkpoint: its parts are stacked as packed rows (all of them packed).
    std::vector<Tensor> packed{first};
    for (size_t i = 1; i < names.size(); ++i) {
      Tensor part = checkpoint_packed(names[i], rows[i], cols);
      if (!part.defined())
        fail(ErrorKind::Corrupt, "{}: \"{}\" is quantized but \"{}\", fused with it, is not", store_->dir(),
             prefix_ + names[0], prefix_ + names[i]);
      packed.push_back(part);
    }
    // Symmetric and zero-point parts (a GPTQ layer whose zeros are not all 8) stack as zero-point rows.
    for (const Tensor& p : packed)
      if (p.dtype() != packed[0].dtype()) {
        for (Tensor& part : packed) part = with_zero_points(part, cols);
        break;
      }
    return placed_matrix(concat_rows(packed));
  }
  if (const WeightQuantization& q = store_->quantization(); q.enabled()) {
    // Packed rows stack as bytes: each part is quantized row by row, so the stack is exact.
    std::vector<Tensor> packed;
    for (size_t i = 0; i < names.size(); ++i) {
      store_->record_packed_layer({prefix_ + names[i], rows[i], cols, layout_ == WeightLayout::InOut});
      packed.push_back(packed_host(names[i], rows[i], cols, layout_, q.layer_format(cols)));
    }
    return placed_matrix(concat_rows(packed));
  }
  std::vector<Tensor> parts;
  for (size_t i = 0; i < names.size(); ++i) parts.push_back(matrix_host(names[i], rows[i], cols, layout_));
  if (Tensor joined = joined_in_place(parts); joined.defined()) return placed_matrix(joined);
  Tensor stacked = placed_matrix(concat_rows(parts));
  // The parts read in place from the mapped checkpoint are copied now: their pages need not stay
  // resident beside the copy (a bf16 model's Q|K|V and gate|up are most of its bytes).
  for (const Tensor& part : parts)
    if (const auto* mapped = dynamic_cast<const MappedStorage*>(part.storage().get()))
      mapped->drop_resident(part.raw(), part.nbytes());
  return stacked;
}

Tensor WeightSource::table(const std::string& name, const Shape& shape) const {
  return ops::to_device(store_->get_as(prefix_ + name, compute_dtype_, shape), device_);
}

}  // namespace ia
