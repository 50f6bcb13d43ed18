#include "core/tensor.h"

#include <cstring>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace ia {

std::string shape_str(const Shape& s) {
  return fmt::format("[{}]", fmt::join(s, ", "));
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

Tensor::Tensor(std::shared_ptr<Storage> storage, size_t offset_bytes, Shape shape, Shape strides, DType dtype)
    : storage_(std::move(storage)),
      offset_(offset_bytes),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      dtype_(dtype) {}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  IA_CHECK(!parts.empty(), "concat_rows of nothing");
  int64_t rows = 0;
  for (const auto& p : parts) {
    IA_CHECK(p.dtype() == parts[0].dtype() && p.dim() == parts[0].dim(), "concat_rows: {} vs {}", p.describe(),
             parts[0].describe());
    rows += p.size(0);
  }
  Shape shape = parts[0].shape();
  shape[0] = rows;
  Tensor out = Tensor::empty(shape, parts[0].dtype());
  char* dst = static_cast<char*>(out.raw());
  for (const auto& p : parts) {
    Tensor c = p.contiguous();
    std::memcpy(dst, c.raw(), c.nbytes());
    dst += c.nbytes();
  }
  return out;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape) {
    if (d < 0) fail(ErrorKind::Internal, "negative dimension in shape {}", shape_str(shape));
  }
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return Tensor(std::make_shared<HostStorage>(bytes), 0, shape, contiguous_strides(shape), dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
  IA_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "from_vector: {} values for shape {}", v.size(),
           shape_str(shape));
  Tensor t = empty(shape, DType::F32);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}

Tensor Tensor::from_vector(const std::vector<int64_t>& v, const Shape& shape) {
  IA_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "from_vector: {} values for shape {}", v.size(),
           shape_str(shape));
  Tensor t = empty(shape, DType::I64);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(int64_t));
  return t;
}

int64_t Tensor::size(int64_t d) const {
  if (d < 0) d += dim();
  IA_CHECK(d >= 0 && d < dim(), "dimension {} out of range for {}", d, describe());
  return shape_[static_cast<size_t>(d)];
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (size_t i = shape_.size(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

Tensor Tensor::view(const Shape& shape) const {
  IA_CHECK(is_contiguous(), "view of a non-contiguous tensor {}", describe());
  Shape s = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      IA_CHECK(infer < 0, "view: more than one -1 in {}", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      IA_CHECK(s[i] >= 0, "view: negative size in {}", shape_str(shape));
      known *= s[i];
    }
  }
  if (infer >= 0) s[static_cast<size_t>(infer)] = known == 0 ? 0 : numel() / known;
  IA_CHECK(shape_numel(s) == numel(), "view: cannot view {} as {}", describe(), shape_str(shape));
  return Tensor(storage_, offset_, s, contiguous_strides(s), dtype_);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  if (d < 0) d += dim();
  IA_CHECK(d >= 0 && d < dim() && index >= 0 && index < shape_[static_cast<size_t>(d)],
           "select({}, {}) out of range for {}", d, index, describe());
  Shape s = shape_, st = strides_;
  size_t off = offset_ + static_cast<size_t>(index * strides_[static_cast<size_t>(d)]) * dtype_size(dtype_);
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, off, s, st, dtype_);
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  if (d < 0) d += dim();
  IA_CHECK(d >= 0 && d < dim() && start >= 0 && length >= 0 && start + length <= shape_[static_cast<size_t>(d)],
           "narrow({}, {}, {}) out of range for {}", d, start, length, describe());
  Shape s = shape_;
  s[static_cast<size_t>(d)] = length;
  size_t off = offset_ + static_cast<size_t>(start * strides_[static_cast<size_t>(d)]) * dtype_size(dtype_);
  return Tensor(storage_, off, s, strides_, dtype_);
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  if (a < 0) a += dim();
  if (b < 0) b += dim();
  IA_CHECK(a >= 0 && a < dim() && b >= 0 && b < dim(), "transpose({}, {}) out of range for {}", a, b, describe());
  Shape s = shape_, st = strides_;
  std::swap(s[static_cast<size_t>(a)], s[static_cast<size_t>(b)]);
  std::swap(st[static_cast<size_t>(a)], st[static_cast<size_t>(b)]);
  return Tensor(storage_, offset_, s, st, dtype_);
}

namespace {

// Calls fn(src_element_offset, dst_linear_index) over all elements in row-major order.
template <typename Fn>
void for_each_strided(const Shape& shape, const Shape& strides, Fn fn) {
  int64_t n = shape_numel(shape);
  if (n == 0) return;
  size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t off = 0;
  for (int64_t lin = 0; lin < n; ++lin) {
    fn(off, lin);
    for (size_t k = nd; k-- > 0;) {
      if (++idx[k] < shape[k]) {
        off += strides[k];
        break;
      }
      off -= strides[k] * (shape[k] - 1);
      idx[k] = 0;
    }
  }
}

int64_t load_as_int64(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::I64: return static_cast<const int64_t*>(base)[i];
    case DType::I32: return static_cast<const int32_t*>(base)[i];
    case DType::I16: return static_cast<const int16_t*>(base)[i];
    case DType::I8: return static_cast<const int8_t*>(base)[i];
    case DType::U8: return static_cast<const uint8_t*>(base)[i];
    case DType::Bool: return static_cast<const uint8_t*>(base)[i] != 0;
    default: break;
  }
  fail(ErrorKind::Internal, "load_as_int64 of {}", dtype_name(t));
}

void store_from_int64(void* base, DType t, int64_t i, int64_t v) {
  switch (t) {
    case DType::I64: static_cast<int64_t*>(base)[i] = v; return;
    case DType::I32: static_cast<int32_t*>(base)[i] = static_cast<int32_t>(v); return;
    case DType::I16: static_cast<int16_t*>(base)[i] = static_cast<int16_t>(v); return;
    case DType::I8: static_cast<int8_t*>(base)[i] = static_cast<int8_t>(v); return;
    case DType::U8: static_cast<uint8_t*>(base)[i] = static_cast<uint8_t>(v); return;
    case DType::Bool: static_cast<uint8_t*>(base)[i] = v != 0; return;
    default: break;
  }
  fail(ErrorKind::Internal, "store_from_int64 to {}", dtype_name(t));
}

}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  IA_CHECK(device().is_cpu(), "clone of a device tensor must go through its backend");
  Tensor out = empty(shape_, dtype_);
  size_t es = dtype_size(dtype_);
  const char* src = static_cast<const char*>(raw());
  char* dst = static_cast<char*>(out.raw());
  if (is_contiguous()) {
    std::memcpy(dst, src, nbytes());
  } else {
    for_each_strided(shape_, strides_, [&](int64_t so, int64_t di) { std::memcpy(dst + di * es, src + so * es, es); });
  }
  return out;
}

Tensor Tensor::to(DType target) const {
  IA_CHECK(device().is_cpu(), "to(dtype) on a device tensor must go through its backend");
  if (target == dtype_) return contiguous();
  Tensor out = empty(shape_, target);
  const void* src = raw();
  void* dst = out.raw();
  if (dtype_ == DType::BF16 && target == DType::F32 && is_contiguous()) {
    const uint16_t* s = static_cast<const uint16_t*>(src);
    float* d = static_cast<float*>(dst);
    for (int64_t i = 0, n = numel(); i < n; ++i) d[i] = bf16_to_f32(s[i]);
    return out;
  }
  if (dtype_ == DType::F32 && target == DType::BF16 && is_contiguous()) {
    const float* s = static_cast<const float*>(src);
    uint16_t* d = static_cast<uint16_t*>(dst);
    for (int64_t i = 0, n = numel(); i < n; ++i) d[i] = f32_to_bf16(s[i]);
    return out;
  }
  if (!is_float(dtype_) && !is_float(target)) {
    // Integer to integer goes through int64, not double: exact beyond 2^53, and
    // narrowing wraps modulo 2^bits as torch does (a double -> int8 cast out of
    // range would be undefined behaviour).
    for_each_strided(shape_, strides_, [&](int64_t so, int64_t di) {
      store_from_int64(dst, target, di, load_as_int64(src, dtype_, so));
    });
    return out;
  }
  for_each_strided(shape_, strides_,
                   [&](int64_t so, int64_t di) { store_scalar(dst, target, di, load_scalar(src, dtype_, so)); });
  return out;
}

std::vector<float> Tensor::to_f32_vector() const {
  Tensor t = to(DType::F32);
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

std::string Tensor::describe() const {
  return fmt::format("{}{} {}", dtype_name(dtype_), shape_str(shape_), device().str());
}

}  // namespace ia
