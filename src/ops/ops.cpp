#include "ops/ops.h"

#include <algorithm>

#include "core/error.h"

namespace ia::ops {
namespace {

Tensor alloc(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) IA_CHECK(d >= 0, "negative dimension in {}", shape_str(shape));
  Backend& be = backend_for(device);
  size_t bytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  return Tensor(be.allocate(bytes), 0, shape, contiguous_strides(shape), dtype);
}

// x itself when contiguous, else a contiguous copy on the same device.
Tensor contig(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = alloc(x.shape(), x.dtype(), x.device());
  backend_for(x.device()).copy(x, out);
  return out;
}

// Small parameter tensors (norm weights, biases) stored as bf16/f16 become f32.
Tensor as_f32(const Tensor& x) {
  if (x.dtype() == DType::F32) return contig(x);
  return cast(x, DType::F32);
}

void check_defined(const Tensor& t, const char* op, const char* what) {
  IA_CHECK(t.defined(), "{}: {} is undefined", op, what);
}

void check_f32(const Tensor& t, const char* op, const char* what) {
  check_defined(t, op, what);
  IA_CHECK(t.dtype() == DType::F32, "{}: {} must be f32, got {}", op, what, t.describe());
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  IA_CHECK(a.device() == b.device(), "{}: tensors on different devices: {} and {}", op, a.describe(), b.describe());
}

bool is_index_type(DType t) { return t == DType::I64 || t == DType::I32; }
bool is_mask_type(DType t) {
  return t == DType::I64 || t == DType::I32 || t == DType::I16 || t == DType::I8 || t == DType::U8 || t == DType::Bool ||
         t == DType::F32;
}

Backend& backend_checked(const Tensor& x, OpKind op, DType dtype) {
  Backend& be = backend_for(x.device());
  if (!be.supports(op, dtype))
    fail(ErrorKind::Unsupported, "{}: backend {} does not support dtype {}", op_kind_name(op), be.name(), dtype_name(dtype));
  return be;
}

}  // namespace

Tensor embedding(const Tensor& table, const Tensor& ids) {
  check_defined(table, "embedding", "table");
  check_defined(ids, "embedding", "ids");
  IA_CHECK(table.dim() == 2, "embedding: table must be [vocab, hidden], got {}", table.describe());
  IA_CHECK(is_index_type(ids.dtype()), "embedding: ids must be i32 or i64, got {}", ids.describe());
  check_same_device(table, ids, "embedding");
  Backend& be = backend_checked(table, OpKind::Embedding, table.dtype());
  Shape os = ids.shape();
  os.push_back(table.size(1));
  Tensor out = alloc(os, DType::F32, table.device());
  be.embedding(contig(table), contig(ids), out);
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias) {
  check_f32(x, "linear", "x");
  check_defined(w, "linear", "w");
  IA_CHECK(x.dim() >= 1, "linear: x must have at least 1 dim, got {}", x.describe());
  IA_CHECK(w.dim() == 2, "linear: w must be [out, in], got {}", w.describe());
  const int64_t K = x.size(-1), N = w.size(0);
  IA_CHECK(w.size(1) == K, "linear: x {} and w {} disagree on the input size", x.describe(), w.describe());
  check_same_device(x, w, "linear");
  Backend& be = backend_checked(x, OpKind::Linear, w.dtype());
  Tensor b;
  if (bias) {
    check_defined(*bias, "linear", "bias");
    IA_CHECK(bias->numel() == N, "linear: bias {} does not match {} outputs", bias->describe(), N);
    check_same_device(x, *bias, "linear");
    b = as_f32(*bias).view({N});
  }
  Tensor wc = w.strides()[1] == 1 ? w : contig(w);
  Shape os = x.shape();
  os.back() = N;
  Tensor out = alloc(os, DType::F32, x.device());
  Tensor x2;
  if (x.dim() == 2 && x.strides()[1] == 1) {
    x2 = x;  // row-strided 2-D views (e.g. a slice of columns) go straight through
  } else {
    x2 = contig(x).view({-1, K});
  }
  Tensor o2 = out.view({-1, N});
  be.linear(x2, wc, bias ? &b : nullptr, o2);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b) {
  check_f32(a, "matmul", "a");
  check_f32(b, "matmul", "b");
  check_same_device(a, b, "matmul");
  IA_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3), "matmul: expects two 2-D or two 3-D tensors, got {} and {}",
           a.describe(), b.describe());
  Backend& be = backend_checked(a, OpKind::MatMul, DType::F32);
  auto as3 = [](const Tensor& t) {
    if (t.dim() == 3) return t;
    return Tensor(t.storage(), t.offset_bytes(), {1, t.size(0), t.size(1)}, {t.size(0) * t.size(1), t.strides()[0], t.strides()[1]},
                  t.dtype());
  };
  Tensor a3 = as3(a), b3 = as3(b);
  const int64_t B = a3.size(0), M = a3.size(1), K = a3.size(2);
  const int64_t N = trans_b ? b3.size(1) : b3.size(2);
  const int64_t Kb = trans_b ? b3.size(2) : b3.size(1);
  IA_CHECK(b3.size(0) == B, "matmul: batch sizes differ: {} and {}", a.describe(), b.describe());
  IA_CHECK(Kb == K, "matmul: inner sizes differ: {} @ {}{}", a.describe(), b.describe(), trans_b ? "^T" : "");
  Tensor out = alloc({B, M, N}, DType::F32, a.device());
  be.matmul(a3, b3, trans_b, out);
  return a.dim() == 2 ? out.view({M, N}) : out;
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor* bias, float eps) {
  check_f32(x, "layer_norm", "x");
  check_defined(weight, "layer_norm", "weight");
  IA_CHECK(x.dim() >= 1, "layer_norm: x must have at least 1 dim");
  const int64_t H = x.size(-1);
  IA_CHECK(weight.numel() == H, "layer_norm: weight {} does not match hidden size {}", weight.describe(), H);
  IA_CHECK(eps >= 0, "layer_norm: eps must be >= 0, got {}", eps);
  check_same_device(x, weight, "layer_norm");
  Backend& be = backend_checked(x, OpKind::LayerNorm, DType::F32);
  Tensor w = as_f32(weight).view({H});
  Tensor b;
  if (bias) {
    IA_CHECK(bias->numel() == H, "layer_norm: bias {} does not match hidden size {}", bias->describe(), H);
    check_same_device(x, *bias, "layer_norm");
    b = as_f32(*bias).view({H});
  }
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.layer_norm(contig(x), w, bias ? &b : nullptr, eps, out);
  return out;
}

Tensor activation(Activation act, const Tensor& x) {
  check_f32(x, "activation", "x");
  Backend& be = backend_checked(x, OpKind::Activation, DType::F32);
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.activation(act, contig(x), out);
  return out;
}

Tensor gelu(const Tensor& x) { return activation(Activation::GeluErf, x); }
Tensor gelu_tanh(const Tensor& x) { return activation(Activation::GeluTanh, x); }

Tensor softmax(const Tensor& x) {
  check_f32(x, "softmax", "x");
  IA_CHECK(x.dim() >= 1, "softmax: x must have at least 1 dim");
  Backend& be = backend_checked(x, OpKind::Softmax, DType::F32);
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.softmax(contig(x), out);
  return out;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask, const AttentionParams& params) {
  check_f32(q, "attention", "q");
  check_f32(k, "attention", "k");
  check_f32(v, "attention", "v");
  IA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be [B, S, H, D], got {}, {}, {}", q.describe(),
           k.describe(), v.describe());
  const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
  IA_CHECK(k.size(0) == B && k.size(2) == H && k.size(3) == D, "attention: k {} does not match q {}", k.describe(), q.describe());
  IA_CHECK(v.shape() == k.shape(), "attention: v {} does not match k {}", v.describe(), k.describe());
  check_same_device(q, k, "attention");
  check_same_device(q, v, "attention");
  Backend& be = backend_checked(q, OpKind::Attention, DType::F32);
  auto last_contig = [](const Tensor& t) { return t.size(3) <= 1 || t.strides()[3] == 1 ? t : contig(t); };
  Tensor m;
  if (key_mask) {
    check_defined(*key_mask, "attention", "key_mask");
    IA_CHECK(key_mask->dim() == 2 && key_mask->size(0) == B && key_mask->size(1) == Sk,
             "attention: key_mask {} must be [{}, {}]", key_mask->describe(), B, Sk);
    IA_CHECK(is_mask_type(key_mask->dtype()), "attention: key_mask dtype {} (use i64, i32, bool, u8 or f32)",
             dtype_name(key_mask->dtype()));
    check_same_device(q, *key_mask, "attention");
    m = *key_mask;
  }
  Tensor out = alloc({B, Sq, H, D}, DType::F32, q.device());
  Tensor qc = last_contig(q), kc = last_contig(k), vc = last_contig(v);
  // Size-1 head dims may carry any stride; normalise them to 1.
  auto fix = [](Tensor t) {
    if (t.strides()[3] == 1) return t;
    Shape st = t.strides();
    st[3] = 1;
    return Tensor(t.storage(), t.offset_bytes(), t.shape(), st, t.dtype());
  };
  be.attention(fix(qc), fix(kc), fix(vc), key_mask ? &m : nullptr, params, out);
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) {
  check_f32(a, "add", "a");
  check_f32(b, "add", "b");
  check_same_device(a, b, "add");
  IA_CHECK(b.dim() <= a.dim() && std::equal(b.shape().begin(), b.shape().end(), a.shape().end() - b.dim()),
           "add: {} cannot be broadcast to {} (b must have a's shape or a's trailing shape)", b.describe(), a.describe());
  Backend& be = backend_checked(a, OpKind::Add, DType::F32);
  Tensor out = alloc(a.shape(), DType::F32, a.device());
  be.add(contig(a), contig(b), out);
  return out;
}

Tensor pool(PoolMode mode, const Tensor& x, const Tensor& mask) {
  check_f32(x, "pool", "x");
  check_defined(mask, "pool", "mask");
  IA_CHECK(x.dim() == 3, "pool: x must be [B, S, H], got {}", x.describe());
  IA_CHECK(mask.dim() == 2 && mask.size(0) == x.size(0) && mask.size(1) == x.size(1), "pool: mask {} must be [{}, {}]",
           mask.describe(), x.size(0), x.size(1));
  IA_CHECK(is_mask_type(mask.dtype()), "pool: mask dtype {} (use i64, i32, bool, u8 or f32)", dtype_name(mask.dtype()));
  check_same_device(x, mask, "pool");
  Backend& be = backend_checked(x, OpKind::Pool, DType::F32);
  Tensor out = alloc({x.size(0), x.size(2)}, DType::F32, x.device());
  be.pool(mode, contig(x), mask, out);
  return out;
}

Tensor l2_normalize(const Tensor& x, float eps) {
  check_f32(x, "l2_normalize", "x");
  IA_CHECK(x.dim() >= 1, "l2_normalize: x must have at least 1 dim");
  Backend& be = backend_checked(x, OpKind::L2Normalize, DType::F32);
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.l2_normalize(contig(x), eps, out);
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  check_defined(x, "cast", "x");
  Backend& be = backend_checked(x, OpKind::Cast, x.dtype());
  Tensor out = alloc(x.shape(), dtype, x.device());
  be.cast(contig(x), out);
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  check_defined(x, "to_device", "x");
  if (x.device() == device) return x;
  if (!x.device().is_cpu() && !device.is_cpu()) return to_device(to_device(x, Device::cpu()), device);
  Tensor out = alloc(x.shape(), x.dtype(), device);
  Tensor src = x.device().is_cpu() ? contig(x) : x;
  // The non-host side's backend does the transfer.
  Backend& be = backend_for(device.is_cpu() ? x.device() : device);
  be.copy(src, out);
  return out;
}

}  // namespace ia::ops
