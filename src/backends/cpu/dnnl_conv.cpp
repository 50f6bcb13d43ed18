#include "backends/cpu/dnnl_conv.h"

#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "backends/cpu/dnnl_gemm.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace ia::cpu {
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

struct ConvPrimitive {
  dnnl::convolution_forward prim;
  dnnl::memory::desc src_md, weights_md, scratchpad_md;
};

struct ConvCache {
  std::mutex mu;
  LruMap<ConvPrimitive> prims{256};
};

ConvCache& conv_cache() {
  static ConvCache* c = new ConvCache();  // leaked: tensors freed during static destruction may call in
  return *c;
}

// The shapes of one convolution, in oneDNN's dims (N, C, H, W; groups first for the weights).
struct ConvShape {
  dnnl::memory::dims src, weights, bias, dst, strides, dilates, pad_l, pad_r;
  bool grouped = false;
};

ConvShape shape_of(const Tensor& x, const Tensor& w, const Conv2dParams& p, const Tensor& out) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), Cin = x.size(3);
  const int64_t Cout = w.size(0), KH = w.size(2), KW = w.size(3), G = p.groups;
  const int64_t Hout = out.size(1), Wout = out.size(2);
  ConvShape s;
  s.src = {B, Cin, H, W};
  s.grouped = G > 1;
  s.weights = s.grouped ? dnnl::memory::dims{G, Cout / G, Cin / G, KH, KW} : dnnl::memory::dims{Cout, Cin, KH, KW};
  s.bias = {Cout};
  s.dst = {B, Cout, Hout, Wout};
  s.strides = {p.stride_h, p.stride_w};
  s.dilates = {p.dilation_h - 1, p.dilation_w - 1};  // oneDNN counts the gaps
  s.pad_l = {p.padding_h, p.padding_w};
  // The far side's padding that gives torch's output size (its floor division may leave part
  // of the near side's padding unused).
  s.pad_r = {(Hout - 1) * p.stride_h + (KH - 1) * p.dilation_h + 1 - H - p.padding_h,
             (Wout - 1) * p.stride_w + (KW - 1) * p.dilation_w + 1 - W - p.padding_w};
  return s;
}

std::string key_of(const ConvShape& s, bool bf16, bool bias, const ConvEpilogue& e) {
  std::string key;
  for (const auto* d : {&s.src, &s.weights, &s.dst, &s.strides, &s.dilates, &s.pad_l, &s.pad_r}) {
    key.append(reinterpret_cast<const char*>(d->data()), d->size() * sizeof((*d)[0]));
    key.push_back('|');
  }
  key.push_back(bf16 ? 'h' : 'f');
  key.push_back(bias ? 'b' : 'n');
  key.push_back(e.residual ? 'r' : '-');
  key.push_back(e.has_activation ? static_cast<char>('A' + static_cast<int>(e.activation)) : '-');
  return key;
}

ConvPrimitive get_primitive(const ConvShape& s, bool bf16, bool bias, const ConvEpilogue& epi) {
  const std::string key = key_of(s, bf16, bias, epi);
  ConvCache& c = conv_cache();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (const ConvPrimitive* have = c.prims.find(key)) return *have;
  }
  const dt in = bf16 ? dt::bf16 : dt::f32;
  // Activations stay channels-last (our layout, no reorder of the biggest tensors); the weights'
  // layout is the primitive's choice (packed once, packed_weights).
  const dnnl::memory::desc src_md(s.src, in, tag::nhwc), dst_md(s.dst, dt::f32, tag::nhwc);
  const dnnl::memory::desc wei_md(s.weights, in, tag::any), bias_md(s.bias, dt::f32, tag::a);
  const auto desc =
      bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             src_md, wei_md, bias_md, dst_md, s.strides, s.dilates, s.pad_l, s.pad_r)
           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                             src_md, wei_md, dst_md, s.strides, s.dilates, s.pad_l, s.pad_r);
  dnnl::post_ops po;
  if (epi.residual) po.append_binary(dnnl::algorithm::binary_add, dst_md);
  if (epi.has_activation) {
    const DnnlEltwise a = dnnl_eltwise(epi.activation);
    po.append_eltwise(1.0f, a.algorithm, a.alpha, 0.0f);
  }
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // one scratch per calling thread (execute)
  const dnnl::convolution_forward::primitive_desc pd(desc, attr, dnnl_engine());
  ConvPrimitive e{dnnl::convolution_forward(pd), pd.src_desc(), pd.weights_desc(), pd.scratchpad_desc()};
  std::lock_guard<std::mutex> lock(c.mu);
  return c.prims.insert(key, std::move(e));
}

struct RoundedSourceTag {};

}  // namespace

bool dnnl_conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const Conv2dParams& p, Tensor& out,
                 const ConvEpilogue& epilogue) {
  const ConvShape s = shape_of(x, w, p, out);
  const bool bf16 = p.bf16_products;
  ConvPrimitive prim;
  try {
    prim = get_primitive(s, bf16, bias != nullptr, epilogue);
  } catch (const dnnl::error&) {
    return false;  // no oneDNN kernel for this shape here
  }
  dnnl::engine& eng = dnnl_engine();
  // The weights in torch's layout (O, I, KH, KW; groups split off the outputs), packed once.
  const dnnl::memory::desc plain(s.weights, dt::f32, s.grouped ? tag::goihw : tag::oihw);
  dnnl::memory weights;
  if (w.storage()) {
    weights = packed_weights(w.raw(), plain, prim.weights_md, w.storage());
  } else {
    weights = dnnl::memory(prim.weights_md, eng);
    dnnl::memory plain_m(plain, eng, const_cast<void*>(w.raw()));
    dnnl::reorder(plain_m, weights).execute(dnnl_stream(), plain_m, weights);
  }
  const void* src = x.raw();
  if (bf16) {  // x rounded to bf16 (nearest even) in one parallel pass
    const int64_t n = x.numel();
    auto* xb = static_cast<uint16_t*>(thread_scratch<RoundedSourceTag>(static_cast<size_t>(n) * 2, 4096));
    const float* xf = x.data<float>();
    parallel_for(n, 1 << 16, [&](int64_t a, int64_t e) {
      for (int64_t i = a; i < e; ++i) xb[i] = f32_to_bf16(xf[i]);
    });
    src = xb;
  }
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, dnnl::memory(prim.src_md, eng, const_cast<void*>(src))},
      {DNNL_ARG_WEIGHTS, weights},
      {DNNL_ARG_DST, dnnl::memory(dnnl::memory::desc(s.dst, dt::f32, tag::nhwc), eng, out.raw())}};
  if (bias)
    args.emplace(DNNL_ARG_BIAS,
                 dnnl::memory(dnnl::memory::desc(s.bias, dt::f32, tag::a), eng, const_cast<void*>(bias->raw())));
  if (epilogue.residual)
    args.emplace(
        DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1,
        dnnl::memory(dnnl::memory::desc(s.dst, dt::f32, tag::nhwc), eng, const_cast<void*>(epilogue.residual->raw())));
  if (const size_t need = prim.scratchpad_md.get_size(); need > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 dnnl::memory(prim.scratchpad_md, eng, thread_scratch<DnnlScratchpadTag>(need, 4096)));
  dnnl::stream& stream = dnnl_stream();
  prim.prim.execute(stream, args);
  stream.wait();
  return true;
}

}  // namespace ia::cpu
