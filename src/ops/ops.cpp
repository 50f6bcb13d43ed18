#include "ops/ops.h"

#include <algorithm>

#include "core/error.h"
#include "core/kv_quantization.h"
#include "core/quantization.h"
#include "ops/op_timer.h"

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

bool is_index_type(DType t) {
  return t == DType::I64 || t == DType::I32;
}
bool is_mask_type(DType t) {
  return t == DType::I64 || t == DType::I32 || t == DType::I16 || t == DType::I8 || t == DType::U8 ||
         t == DType::Bool || t == DType::F32;
}

// Activations a norm or gate may hand to the next linear: f32, or bf16 for bf16 weights.
void check_activation_out(DType t, const char* op) {
  if (t != DType::F32 && t != DType::BF16)
    fail(ErrorKind::InvalidArgument, "{}: output dtype {} (use f32 or bf16)", op, dtype_name(t));
}

// A position bias is [Hq, 2W + 1] f32, contiguous, on q's device (backends/backend.h).
void check_position_bias(const PositionBias& b, const Tensor& q, const char* op) {
  if (!b.bias) return;
  const Tensor& t = *b.bias;
  IA_CHECK(t.defined() && t.dtype() == DType::F32 && t.dim() == 2 && t.is_contiguous() && t.size(0) == q.size(1) &&
               t.size(1) % 2 == 1,
           "{}: position bias {} must be contiguous [{}, 2W + 1] f32", op, t.defined() ? t.describe() : "undefined",
           q.size(1));
  check_same_device(q, t, op);
}

// The head dim contiguous (a size-1 one may carry any stride: normalised to 1).
Tensor last_dim_contig(const Tensor& t) {
  if (t.size(2) > 1 && t.strides()[2] != 1) return contig(t);
  if (t.strides()[2] == 1) return t;
  Shape st = t.strides();
  st[2] = 1;
  return Tensor(t.storage(), t.offset_bytes(), t.shape(), st, t.dtype());
}

// A paged KV cache pair: both of one KV cache dtype (core/kv_quantization.h).
void check_kv_cache(const Tensor& k_cache, const Tensor& v_cache, const char* op) {
  check_defined(k_cache, op, "k_cache");
  check_defined(v_cache, op, "v_cache");
  IA_CHECK(is_kv_cache_dtype(k_cache.dtype()) && v_cache.dtype() == k_cache.dtype(),
           "{}: caches {} / {} must be f32 or q8_kv, both the same", op, k_cache.describe(), v_cache.describe());
}

Backend& backend_checked(const Tensor& x, OpKind op, DType dtype) {
  Backend& be = backend_for(x.device());
  if (!be.supports(op, dtype))
    fail(ErrorKind::Unsupported, "{}: backend {} does not support dtype {}", op_kind_name(op), be.name(),
         dtype_name(dtype));
  return be;
}

}  // namespace

Tensor embedding(const Tensor& table, const Tensor& ids) {
  OpTimer timer("embedding");
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
  return linear(x, w, bias, LinearEpilogue{});
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor* bias, const LinearEpilogue& epilogue, DType out_dtype) {
  OpTimer timer(x.dim() >= 1 && x.numel() <= 8 * std::max<int64_t>(x.size(-1), 1) ? "linear (<= 8 rows)" : "linear");
  check_defined(w, "linear", "w");
  // Packed weights (core/quantization.h) take what a bf16 weight takes: rows [N, row bytes of K].
  const bool packed = is_quantized(w.dtype());
  const bool bf16_capable = w.dtype() == DType::BF16 || packed;
  if (x.dtype() == DType::BF16) {
    // Already rounded by its producer (rms_norm / swiglu with a bf16 output).
    IA_CHECK(bf16_capable, "linear: bf16 x needs bf16 weights, got {}", w.describe());
  } else {
    check_f32(x, "linear", "x");
  }
  IA_CHECK(x.dim() >= 1, "linear: x must have at least 1 dim, got {}", x.describe());
  IA_CHECK(w.dim() == 2, "linear: w must be [out, in], got {}", w.describe());
  const int64_t K = x.size(-1), N = w.size(0);
  if (packed) {
    IA_CHECK(quantizable(w.dtype(), K) && w.size(1) == quantized_row_bytes(w.dtype(), K),
             "linear: x {} and packed w {} disagree on the input size", x.describe(), w.describe());
  } else {
    IA_CHECK(w.size(1) == K, "linear: x {} and w {} disagree on the input size", x.describe(), w.describe());
  }
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
  check_activation_out(out_dtype, "linear");
  if (out_dtype == DType::BF16 && !bf16_capable)
    fail(ErrorKind::InvalidArgument, "linear: a bf16 output needs bf16 weights, got {}", w.describe());
  Tensor out = alloc(os, out_dtype, x.device());
  Tensor x2;
  if (x.dim() == 2 && x.strides()[1] == 1) {
    x2 = x;  // row-strided 2-D views (e.g. a slice of columns) go straight through
  } else {
    x2 = contig(x).view({-1, K});
  }
  Tensor o2 = out.view({-1, N});
  if (!epilogue.has_activation && !epilogue.residual) {
    be.linear(x2, wc, bias ? &b : nullptr, o2);
    return out;
  }
  LinearEpilogue e = epilogue;
  Tensor r2;
  if (epilogue.residual) {
    const Tensor& r = *epilogue.residual;
    check_f32(r, "linear", "residual");
    check_same_device(x, r, "linear");
    IA_CHECK(r.shape() == os, "linear: residual {} does not match the output shape {}", r.describe(), shape_str(os));
    r2 = contig(r).view({-1, N});
    e.residual = &r2;
  }
  be.linear_fused(x2, wc, bias ? &b : nullptr, e, o2);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_b) {
  OpTimer timer("matmul");
  check_f32(a, "matmul", "a");
  check_f32(b, "matmul", "b");
  check_same_device(a, b, "matmul");
  IA_CHECK((a.dim() == 2 && b.dim() == 2) || (a.dim() == 3 && b.dim() == 3),
           "matmul: expects two 2-D or two 3-D tensors, got {} and {}", a.describe(), b.describe());
  Backend& be = backend_checked(a, OpKind::MatMul, DType::F32);
  auto as3 = [](const Tensor& t) {
    if (t.dim() == 3) return t;
    return Tensor(t.storage(), t.offset_bytes(), {1, t.size(0), t.size(1)},
                  {t.size(0) * t.size(1), t.strides()[0], t.strides()[1]}, t.dtype());
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
  OpTimer timer("layer_norm");
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
  OpTimer timer("activation");
  check_f32(x, "activation", "x");
  Backend& be = backend_checked(x, OpKind::Activation, DType::F32);
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.activation(act, contig(x), out);
  return out;
}

Tensor gelu(const Tensor& x) {
  return activation(Activation::GeluErf, x);
}
Tensor gelu_tanh(const Tensor& x) {
  return activation(Activation::GeluTanh, x);
}

Tensor softmax(const Tensor& x) {
  OpTimer timer("softmax");
  check_f32(x, "softmax", "x");
  IA_CHECK(x.dim() >= 1, "softmax: x must have at least 1 dim");
  Backend& be = backend_checked(x, OpKind::Softmax, DType::F32);
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.softmax(contig(x), out);
  return out;
}

Tensor argmax(const Tensor& x) {
  OpTimer timer("argmax");
  check_f32(x, "argmax", "x");
  IA_CHECK(x.dim() == 2 && x.size(1) >= 1, "argmax: x must be [rows, cols >= 1], got {}", x.describe());
  Backend& be = backend_checked(x, OpKind::ArgMax, DType::F32);
  Tensor out = alloc({x.size(0)}, DType::I32, x.device());
  be.argmax(contig(x), out);
  return out;
}

std::pair<Tensor, Tensor> top_k(const Tensor& x, int64_t k) {
  OpTimer timer("top_k");
  check_f32(x, "top_k", "x");
  IA_CHECK(x.dim() == 2 && k >= 1 && k <= std::min<int64_t>(x.size(1), 1024), "top_k: k {} of {}", k, x.describe());
  Backend& be = backend_checked(x, OpKind::TopK, DType::F32);
  Tensor values = alloc({x.size(0), k}, DType::F32, x.device()), ids = alloc({x.size(0), k}, DType::I32, x.device());
  be.top_k(contig(x), k, values, ids);
  return {values, ids};
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor* key_mask,
                 const AttentionParams& params) {
  OpTimer timer("attention");
  check_f32(q, "attention", "q");
  check_f32(k, "attention", "k");
  check_f32(v, "attention", "v");
  IA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention: q, k, v must be [B, S, H, D], got {}, {}, {}",
           q.describe(), k.describe(), v.describe());
  const int64_t B = q.size(0), Sq = q.size(1), H = q.size(2), D = q.size(3), Sk = k.size(1);
  IA_CHECK(k.size(0) == B && k.size(2) == H && k.size(3) == D, "attention: k {} does not match q {}", k.describe(),
           q.describe());
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
  OpTimer timer("add");
  check_f32(a, "add", "a");
  check_f32(b, "add", "b");
  check_same_device(a, b, "add");
  IA_CHECK(b.dim() <= a.dim() && std::equal(b.shape().begin(), b.shape().end(), a.shape().end() - b.dim()),
           "add: {} cannot be broadcast to {} (b must have a's shape or a's trailing shape)", b.describe(),
           a.describe());
  Backend& be = backend_checked(a, OpKind::Add, DType::F32);
  Tensor out = alloc(a.shape(), DType::F32, a.device());
  be.add(contig(a), contig(b), out);
  return out;
}

Tensor pool(PoolMode mode, const Tensor& x, const Tensor& mask) {
  check_f32(x, "pool", "x");
  check_defined(mask, "pool", "mask");
  IA_CHECK(mode == PoolMode::Cls || mode == PoolMode::Mean || mode == PoolMode::Max || mode == PoolMode::MeanSqrtLen,
           "pool: mode {} is not a backend pooling op (the endpoint gathers last tokens)", pool_mode_name(mode));
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

Tensor rms_norm(const Tensor& x, const Tensor& weight, float eps, DType out_dtype) {
  OpTimer timer("rms_norm");
  check_f32(x, "rms_norm", "x");
  check_activation_out(out_dtype, "rms_norm");
  check_defined(weight, "rms_norm", "weight");
  IA_CHECK(x.dim() >= 1, "rms_norm: x must have at least 1 dim");
  const int64_t H = x.size(-1);
  IA_CHECK(weight.numel() == H, "rms_norm: weight {} does not match hidden size {}", weight.describe(), H);
  IA_CHECK(eps >= 0, "rms_norm: eps must be >= 0, got {}", eps);
  check_same_device(x, weight, "rms_norm");
  Backend& be = backend_checked(x, OpKind::RmsNorm, out_dtype);
  Tensor w = as_f32(weight).view({H});
  Tensor out = alloc(x.shape(), out_dtype, x.device());
  be.rms_norm(contig(x), w, eps, out);
  return out;
}

Tensor rotary(const Tensor& x, const Tensor& positions, const Tensor& cos, const Tensor& sin) {
  OpTimer timer("rotary");
  check_f32(x, "rotary", "x");
  check_f32(cos, "rotary", "cos");
  check_f32(sin, "rotary", "sin");
  check_defined(positions, "rotary", "positions");
  IA_CHECK(x.dim() == 3, "rotary: x must be [T, N, D], got {}", x.describe());
  IA_CHECK(cos.dim() == 2 && sin.shape() == cos.shape(), "rotary: cos {} / sin {} must be [P, R/2]", cos.describe(),
           sin.describe());
  IA_CHECK(2 * cos.size(1) <= x.size(2), "rotary: {} rotated dims exceed head dim {}", 2 * cos.size(1), x.size(2));
  IA_CHECK(positions.dim() == 1 && positions.size(0) == x.size(0) && is_index_type(positions.dtype()),
           "rotary: positions {} must be [{}] i32/i64", positions.describe(), x.size(0));
  check_same_device(x, cos, "rotary");
  check_same_device(x, positions, "rotary");
  Backend& be = backend_checked(x, OpKind::Rotary, DType::F32);
  Tensor xc = x.size(2) <= 1 || x.strides()[2] == 1 ? x : contig(x);
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.rotary(xc, contig(positions), contig(cos), contig(sin), out);
  return out;
}

Tensor gated_activation(Activation act, const Tensor& gate_up, DType out_dtype) {
  OpTimer timer("gated_activation");
  check_f32(gate_up, "gated_activation", "gate_up");
  check_activation_out(out_dtype, "gated_activation");
  IA_CHECK(gate_up.dim() >= 1 && gate_up.size(-1) % 2 == 0,
           "gated_activation: last dim of {} must be even ([gate | up])", gate_up.describe());
  Backend& be = backend_checked(gate_up, OpKind::SwiGlu, out_dtype);
  Shape os = gate_up.shape();
  os.back() /= 2;
  Tensor out = alloc(os, out_dtype, gate_up.device());
  be.gated_activation(act, contig(gate_up), out);
  return out;
}

void kv_cache_write(const Tensor& k, const Tensor& v, const Tensor& slots, Tensor& k_cache, Tensor& v_cache) {
  OpTimer timer("kv_cache_write");
  check_f32(k, "kv_cache_write", "k");
  check_f32(v, "kv_cache_write", "v");
  check_kv_cache(k_cache, v_cache, "kv_cache_write");
  IA_CHECK(k.dim() == 3 && v.shape() == k.shape(), "kv_cache_write: k {} and v {} must be [T, Hkv, D]", k.describe(),
           v.describe());
  IA_CHECK(k_cache.dim() == 4 && v_cache.shape() == k_cache.shape() && k_cache.is_contiguous() &&
               v_cache.is_contiguous() && k_cache.size(2) == k.size(1) &&
               k_cache.size(3) == kv_cache_row_elems(k_cache.dtype(), k.size(2)),
           "kv_cache_write: caches {} / {} do not fit k {}", k_cache.describe(), v_cache.describe(), k.describe());
  IA_CHECK(slots.dim() == 1 && slots.size(0) == k.size(0) && is_index_type(slots.dtype()),
           "kv_cache_write: slots {} must be [{}]", slots.describe(), k.size(0));
  check_same_device(k, k_cache, "kv_cache_write");
  Backend& be = backend_checked(k, OpKind::PagedAttention, k_cache.dtype());
  auto last = [](const Tensor& t) { return t.size(2) <= 1 || t.strides()[2] == 1 ? t : contig(t); };
  be.kv_cache_write(last(k), last(v), contig(slots), k_cache, v_cache);
}

Tensor paged_attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const Tensor& block_tables,
                       const Tensor& seq_lens, const Tensor& query_start, const PagedAttentionParams& params) {
  OpTimer timer("paged_attention");
  check_f32(q, "paged_attention", "q");
  check_kv_cache(k_cache, v_cache, "paged_attention");
  IA_CHECK(q.dim() == 3, "paged_attention: q must be [T, Hq, D], got {}", q.describe());
  IA_CHECK(
      k_cache.dim() == 4 && v_cache.shape() == k_cache.shape() && k_cache.is_contiguous() && v_cache.is_contiguous(),
      "paged_attention: caches {} / {} must be contiguous [blocks, block_size, Hkv, D]", k_cache.describe(),
      v_cache.describe());
  IA_CHECK(k_cache.size(3) == kv_cache_row_elems(k_cache.dtype(), q.size(2)) && k_cache.size(2) > 0 &&
               q.size(1) % k_cache.size(2) == 0,
           "paged_attention: q {} does not fit the cache {} (query heads must be a multiple of kv heads)", q.describe(),
           k_cache.describe());
  const int64_t S = seq_lens.numel();
  IA_CHECK(block_tables.dim() == 2 && block_tables.size(0) == S && block_tables.dtype() == DType::I32,
           "paged_attention: block_tables {} must be [{}, max_blocks] i32", block_tables.describe(), S);
  IA_CHECK(seq_lens.dim() == 1 && is_index_type(seq_lens.dtype()), "paged_attention: seq_lens {} must be [S]",
           seq_lens.describe());
  IA_CHECK(query_start.dim() == 1 && query_start.size(0) == S + 1 && is_index_type(query_start.dtype()),
           "paged_attention: query_start {} must be [{}]", query_start.describe(), S + 1);
  IA_CHECK(params.window >= 0, "paged_attention: window must be >= 0");
  check_position_bias(params.position_bias, q, "paged_attention");
  check_same_device(q, k_cache, "paged_attention");
  Backend& be = backend_checked(q, OpKind::PagedAttention, k_cache.dtype());
  Tensor qc = q.size(2) <= 1 || q.strides()[2] == 1 ? q : contig(q);
  Tensor out = alloc(q.shape(), DType::F32, q.device());
  be.paged_attention(qc, k_cache, v_cache, contig(block_tables), contig(seq_lens), contig(query_start), params, out);
  return out;
}

Tensor varlen_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                        const VarlenAttentionParams& params) {
  OpTimer timer("varlen_attention");
  check_f32(q, "varlen_attention", "q");
  check_f32(k, "varlen_attention", "k");
  check_f32(v, "varlen_attention", "v");
  IA_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "varlen_attention: q, k, v must be [T, H, D], got {}, {}, {}",
           q.describe(), k.describe(), v.describe());
  IA_CHECK(v.shape() == k.shape() && k.size(0) == q.size(0) && k.size(2) == q.size(2),
           "varlen_attention: k {} / v {} do not match q {}", k.describe(), v.describe(), q.describe());
  IA_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0,
           "varlen_attention: query heads ({}) must be a multiple of kv heads ({})", q.size(1), k.size(1));
  check_defined(query_start, "varlen_attention", "query_start");
  IA_CHECK(query_start.dim() == 1 && query_start.size(0) >= 1 && is_index_type(query_start.dtype()),
           "varlen_attention: query_start {} must be [S+1] i32 or i64", query_start.describe());
  IA_CHECK(params.window >= 0, "varlen_attention: window must be >= 0");
  IA_CHECK(params.window == 0 || params.causal, "varlen_attention: a window needs causal attention");
  check_position_bias(params.position_bias, q, "varlen_attention");
  check_same_device(q, k, "varlen_attention");
  check_same_device(q, v, "varlen_attention");
  check_same_device(q, query_start, "varlen_attention");
  Backend& be = backend_checked(q, OpKind::VarlenAttention, DType::F32);
  Tensor out = alloc(q.shape(), DType::F32, q.device());
  be.varlen_attention(last_dim_contig(q), last_dim_contig(k), last_dim_contig(v), contig(query_start), params, out);
  return out;
}

Tensor cross_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& query_start,
                       const Tensor& kv_ranges, const CrossAttentionParams& params) {
  OpTimer timer("cross_attention");
  check_f32(q, "cross_attention", "q");
  check_f32(k, "cross_attention", "k");
  check_f32(v, "cross_attention", "v");
  IA_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, "cross_attention: q, k, v must be [T, H, D], got {}, {}, {}",
           q.describe(), k.describe(), v.describe());
  IA_CHECK(v.shape() == k.shape() && k.size(2) == q.size(2), "cross_attention: k {} / v {} do not match q {}",
           k.describe(), v.describe(), q.describe());
  IA_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0,
           "cross_attention: query heads ({}) must be a multiple of kv heads ({})", q.size(1), k.size(1));
  check_defined(query_start, "cross_attention", "query_start");
  check_defined(kv_ranges, "cross_attention", "kv_ranges");
  IA_CHECK(query_start.dim() == 1 && query_start.size(0) >= 1 && query_start.dtype() == DType::I32,
           "cross_attention: query_start {} must be [S+1] i32", query_start.describe());
  const int64_t S = query_start.size(0) - 1;
  IA_CHECK(kv_ranges.dim() == 2 && kv_ranges.size(0) == S && kv_ranges.size(1) == 2 && kv_ranges.dtype() == DType::I32,
           "cross_attention: kv_ranges {} must be [{}, 2] i32", kv_ranges.describe(), S);
  check_same_device(q, k, "cross_attention");
  check_same_device(q, v, "cross_attention");
  check_same_device(q, query_start, "cross_attention");
  check_same_device(q, kv_ranges, "cross_attention");
  Backend& be = backend_checked(q, OpKind::CrossAttention, DType::F32);
  Tensor out = alloc(q.shape(), DType::F32, q.device());
  be.cross_attention(last_dim_contig(q), last_dim_contig(k), last_dim_contig(v), contig(query_start), contig(kv_ranges),
                     params, out);
  return out;
}

Tensor conv1d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv1dParams& params) {
  OpTimer timer("conv1d");
  check_f32(x, "conv1d", "x");
  check_f32(w, "conv1d", "w");
  IA_CHECK(x.dim() == 3, "conv1d: x must be [B, L, Cin] (channels last), got {}", x.describe());
  IA_CHECK(w.dim() == 3, "conv1d: w must be [Cout, Cin/groups, K], got {}", w.describe());
  IA_CHECK(params.stride >= 1 && params.dilation >= 1 && params.padding >= 0 && params.groups >= 1,
           "conv1d: stride {}, dilation {} and groups {} must be >= 1, padding {} >= 0", params.stride, params.dilation,
           params.groups, params.padding);
  const int64_t B = x.size(0), L = x.size(1), Cin = x.size(2), Cout = w.size(0), K = w.size(2);
  const int64_t G = params.groups;
  IA_CHECK(Cin % G == 0 && Cout % G == 0 && w.size(1) == Cin / G && K >= 1,
           "conv1d: w {} does not fit x {} in {} groups", w.describe(), x.describe(), G);
  const int64_t Lout = conv1d_output_length(L, K, params);
  IA_CHECK(Lout >= 1, "conv1d: {} samples are fewer than the kernel spans ({} with dilation {}, padding {})", L, K,
           params.dilation, params.padding);
  check_same_device(x, w, "conv1d");
  Backend& be = backend_checked(x, OpKind::Conv1d, DType::F32);
  Tensor b;
  if (bias) {
    check_defined(*bias, "conv1d", "bias");
    IA_CHECK(bias->numel() == Cout, "conv1d: bias {} does not match {} output channels", bias->describe(), Cout);
    check_same_device(x, *bias, "conv1d");
    b = as_f32(*bias).view({Cout});
  }
  Tensor out = alloc({B, Lout, Cout}, DType::F32, x.device());
  be.conv1d(contig(x), contig(w), bias ? &b : nullptr, params, out);
  return out;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, const ConvEpilogue& epi) {
  OpTimer timer("conv2d");
  check_f32(x, "conv2d", "x");
  check_f32(w, "conv2d", "w");
  IA_CHECK(x.dim() == 4, "conv2d: x must be [B, H, W, Cin] (channels last), got {}", x.describe());
  IA_CHECK(w.dim() == 4, "conv2d: w must be [Cout, Cin/groups, KH, KW], got {}", w.describe());
  IA_CHECK(p.stride_h >= 1 && p.stride_w >= 1 && p.dilation_h >= 1 && p.dilation_w >= 1 && p.groups >= 1 &&
               p.padding_h >= 0 && p.padding_w >= 0,
           "conv2d: stride {}x{}, dilation {}x{} and groups {} must be >= 1, padding {}x{} >= 0", p.stride_h,
           p.stride_w, p.dilation_h, p.dilation_w, p.groups, p.padding_h, p.padding_w);
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), Cin = x.size(3), Cout = w.size(0);
  const int64_t KH = w.size(2), KW = w.size(3), G = p.groups;
  IA_CHECK(Cin % G == 0 && Cout % G == 0 && w.size(1) == Cin / G && KH >= 1 && KW >= 1,
           "conv2d: w {} does not fit x {} in {} groups", w.describe(), x.describe(), G);
  const int64_t Hout = window_output_size(H, KH, p.stride_h, p.padding_h, p.dilation_h);
  const int64_t Wout = window_output_size(W, KW, p.stride_w, p.padding_w, p.dilation_w);
  IA_CHECK(Hout >= 1 && Wout >= 1, "conv2d: a {}x{} image is smaller than the {}x{} kernel spans", H, W, KH, KW);
  check_same_device(x, w, "conv2d");
  Backend& be = backend_checked(x, OpKind::Conv2d, DType::F32);
  Tensor b;
  if (bias) {
    check_defined(*bias, "conv2d", "bias");
    IA_CHECK(bias->numel() == Cout, "conv2d: bias {} does not match {} output channels", bias->describe(), Cout);
    check_same_device(x, *bias, "conv2d");
    b = as_f32(*bias).view({Cout});
  }
  Tensor out = alloc({B, Hout, Wout, Cout}, DType::F32, x.device());
  if (!epi.residual && !epi.has_activation) {
    be.conv2d(contig(x), contig(w), bias ? &b : nullptr, p, out);
    return out;
  }
  ConvEpilogue e = epi;
  Tensor residual;
  if (epi.residual) {
    IA_CHECK(epi.residual->shape() == out.shape(), "conv2d: residual {} does not match the output {}",
             epi.residual->describe(), out.describe());
    check_same_device(x, *epi.residual, "conv2d");
    residual = contig(as_f32(*epi.residual));
    e.residual = &residual;
  }
  be.conv2d_fused(contig(x), contig(w), bias ? &b : nullptr, p, e, out);
  return out;
}

Tensor max_pool2d(const Tensor& x, const MaxPool2dParams& p) {
  OpTimer timer("max_pool2d");
  check_f32(x, "max_pool2d", "x");
  IA_CHECK(x.dim() == 4, "max_pool2d: x must be [B, H, W, C] (channels last), got {}", x.describe());
  IA_CHECK(p.kernel_h >= 1 && p.kernel_w >= 1 && p.stride_h >= 1 && p.stride_w >= 1 && p.padding_h >= 0 &&
               p.padding_w >= 0 && 2 * p.padding_h <= p.kernel_h && 2 * p.padding_w <= p.kernel_w,
           "max_pool2d: kernel {}x{}, stride {}x{} must be >= 1 and padding {}x{} at most half the kernel", p.kernel_h,
           p.kernel_w, p.stride_h, p.stride_w, p.padding_h, p.padding_w);
  const int64_t Hout = window_output_size(x.size(1), p.kernel_h, p.stride_h, p.padding_h, 1);
  const int64_t Wout = window_output_size(x.size(2), p.kernel_w, p.stride_w, p.padding_w, 1);
  IA_CHECK(Hout >= 1 && Wout >= 1, "max_pool2d: a {}x{} image is smaller than the {}x{} window", x.size(1), x.size(2),
           p.kernel_h, p.kernel_w);
  Backend& be = backend_checked(x, OpKind::MaxPool2d, DType::F32);
  Tensor out = alloc({x.size(0), Hout, Wout, x.size(3)}, DType::F32, x.device());
  be.max_pool2d(contig(x), p, out);
  return out;
}

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor* bias, float eps) {
  OpTimer timer("group_norm");
  check_f32(x, "group_norm", "x");
  check_defined(weight, "group_norm", "weight");
  IA_CHECK(x.dim() == 3, "group_norm: x must be [B, L, C] (channels last), got {}", x.describe());
  const int64_t C = x.size(2);
  IA_CHECK(groups >= 1 && C % groups == 0, "group_norm: {} channels do not split into {} groups", C, groups);
  IA_CHECK(weight.numel() == C, "group_norm: weight {} does not match {} channels", weight.describe(), C);
  IA_CHECK(eps >= 0, "group_norm: eps must be >= 0, got {}", eps);
  check_same_device(x, weight, "group_norm");
  Backend& be = backend_checked(x, OpKind::GroupNorm, DType::F32);
  Tensor w = as_f32(weight).view({C});
  Tensor b;
  if (bias) {
    IA_CHECK(bias->numel() == C, "group_norm: bias {} does not match {} channels", bias->describe(), C);
    check_same_device(x, *bias, "group_norm");
    b = as_f32(*bias).view({C});
  }
  Tensor out = alloc(x.shape(), DType::F32, x.device());
  be.group_norm(contig(x), groups, w, bias ? &b : nullptr, eps, out);
  return out;
}

Tensor concat_rows(const std::vector<Tensor>& parts) {
  OpTimer timer("concat_rows");
  IA_CHECK(!parts.empty(), "concat_rows: nothing to concatenate");
  const Tensor& first = parts[0];
  check_defined(first, "concat_rows", "part 0");
  IA_CHECK(first.dim() >= 1, "concat_rows: parts need at least 1 dim, got {}", first.describe());
  Shape shape = first.shape();
  int64_t rows = 0;
  for (const Tensor& p : parts) {
    check_defined(p, "concat_rows", "a part");
    check_same_device(first, p, "concat_rows");
    IA_CHECK(p.dtype() == first.dtype() && p.dim() == first.dim() &&
                 std::equal(p.shape().begin() + 1, p.shape().end(), shape.begin() + 1),
             "concat_rows: {} does not stack with {}", p.describe(), first.describe());
    rows += p.size(0);
  }
  if (parts.size() == 1) return contig(first);
  shape[0] = rows;
  Tensor out = alloc(shape, first.dtype(), first.device());
  Backend& be = backend_for(first.device());
  int64_t at = 0;
  for (const Tensor& p : parts) {
    if (p.size(0) == 0) continue;
    Tensor dst = out.narrow(0, at, p.size(0));  // whole rows of a contiguous tensor: contiguous
    be.copy(p, dst);
    at += p.size(0);
  }
  return out;
}

Tensor to_device(const Tensor& x, Device device) {
  OpTimer timer("to_device");
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

void synchronize(Device device) {
  backend_for(device).synchronize();
}

}  // namespace ia::ops
