#include "backends/cpu/dnnl_gemm.h"

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "backends/cpu/amx_permission.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/memory_account.h"
#include "core/weight_prepack.h"

namespace ia::cpu {
namespace {

struct EngineHolder {
  dnnl::engine engine;
  EngineHolder() {
    amx_bf16_usable();  // oneDNN's AMX kernels need the process's tile permission too
    // oneDNN 2.6 keeps AMX behind the max-ISA switch; it must be raised before
    // the first primitive is created. It is an upper bound: CPUs without AMX
    // still get their best ISA. An explicit ONEDNN_MAX_CPU_ISA wins.
    if (!std::getenv("ONEDNN_MAX_CPU_ISA") && !std::getenv("DNNL_MAX_CPU_ISA")) {
      try {
        dnnl::set_max_cpu_isa(dnnl::cpu_isa::avx512_core_amx);
      } catch (const dnnl::error&) {
        // Already fixed by an earlier primitive: keep what is there.
      }
    }
    engine = dnnl::engine(dnnl::engine::kind::cpu, 0);
  }
};

struct PrimEntry {
  dnnl::matmul prim;
  dnnl::memory::desc weights_md;     // what the primitive expects (packed when created with `any`)
  dnnl::memory::desc scratchpad_md;  // the caller's scratch for one execution (scratchpad_mode::user)
};

struct PackedEntry {
  std::weak_ptr<Storage> owner;
  dnnl::memory::desc md;
  dnnl::memory mem;
  // The packed copy's bytes, charged to the memory account of the thread that packed it (the
  // model's, core/memory_account.h) until the entry is dropped.
  std::shared_ptr<MemoryCharge> charge;
};

struct Caches {
  std::mutex mu;
  LruMap<PrimEntry> prims{1024};
  std::unordered_map<std::string, PackedEntry> packed;
};

// Leaked on purpose: tensors destroyed during static destruction may still call in.
Caches& caches() {
  static Caches* c = new Caches();
  return *c;
}

dnnl::memory::desc to_md(const MatDesc& d) {
  dnnl::memory::dims dims(d.dims, d.dims + d.ndims), strides(d.strides, d.strides + d.ndims);
  return dnnl::memory::desc(dims, d.dt, strides);
}

// The residual is f32 and laid out as dst, whatever dst's dtype (bf16 feeds the next linear).
dnnl::memory::desc residual_md(const MatDesc& dst) {
  MatDesc r = dst;
  r.dt = dnnl::memory::data_type::f32;
  return to_md(r);
}

void append_desc(std::string& key, const MatDesc& d) {
  key.push_back(static_cast<char>(d.dt));
  key.push_back(static_cast<char>(d.ndims));
  key.append(reinterpret_cast<const char*>(d.dims), sizeof(int64_t) * static_cast<size_t>(d.ndims));
  key.append(reinterpret_cast<const char*>(d.strides), sizeof(int64_t) * static_cast<size_t>(d.ndims));
}

dnnl::memory::desc bias_desc(const MatDesc& dst) {
  const int nd = dst.ndims;
  dnnl::memory::dims bd(static_cast<size_t>(nd), 1), bs(static_cast<size_t>(nd), dst.dims[nd - 1]);
  bd[static_cast<size_t>(nd - 1)] = dst.dims[nd - 1];
  bs[static_cast<size_t>(nd - 1)] = 1;
  return dnnl::memory::desc(bd, dnnl::memory::data_type::f32, bs);
}

// Finds or creates the primitive; `packed` asks oneDNN to choose the weight layout.
PrimEntry get_primitive(const MatDesc& src, const MatDesc& wei, bool has_bias, const MatDesc& dst, bool packed,
                        const GemmEpilogue& epi) {
  std::string key;
  key.reserve(160);
  append_desc(key, src);
  append_desc(key, wei);
  append_desc(key, dst);
  key.push_back(has_bias ? 'b' : 'n');
  key.push_back(packed ? 'p' : 'r');
  key.push_back(static_cast<char>(epi.activation));
  key.append(reinterpret_cast<const char*>(&epi.activation_alpha), sizeof(float));
  key.push_back(epi.residual ? 'R' : '-');
  Caches& c = caches();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    if (const PrimEntry* have = c.prims.find(key)) return *have;
  }
  dnnl::engine& eng = dnnl_engine();
  dnnl::memory::desc wmd = packed ? dnnl::memory::desc(dnnl::memory::dims(wei.dims, wei.dims + wei.ndims), wei.dt,
                                                       dnnl::memory::format_tag::any)
                                  : to_md(wei);
  dnnl::matmul::desc md = has_bias ? dnnl::matmul::desc(to_md(src), wmd, bias_desc(dst), to_md(dst))
                                   : dnnl::matmul::desc(to_md(src), wmd, to_md(dst));
  dnnl::post_ops po;
  if (epi.activation != dnnl::algorithm::undef) po.append_eltwise(1.0f, epi.activation, epi.activation_alpha, 0.0f);
  if (epi.residual) po.append_binary(dnnl::algorithm::binary_add, residual_md(dst));
  dnnl::primitive_attr attr;
  attr.set_post_ops(po);
  // A cached primitive runs on whichever thread asks (a server embeds on one thread while the
  // batch engine decodes on another): with the library's own scratchpad, two executions at once
  // would share it, so each execution brings its thread's own (execute).
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  dnnl::matmul::primitive_desc pd(md, attr, eng);
  PrimEntry e{dnnl::matmul(pd), pd.weights_desc(), pd.scratchpad_desc()};
  std::lock_guard<std::mutex> lock(c.mu);
  return c.prims.insert(key, std::move(e));
}

void execute(const PrimEntry& p, const MatDesc& src, const void* src_ptr, const dnnl::memory& wei_m, const float* bias,
             const MatDesc& dst, void* dst_ptr, const GemmEpilogue& epi) {
  dnnl::engine& eng = dnnl_engine();
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, dnnl::memory(to_md(src), eng, const_cast<void*>(src_ptr))},
                                             {DNNL_ARG_WEIGHTS, wei_m},
                                             {DNNL_ARG_DST, dnnl::memory(to_md(dst), eng, dst_ptr)}};
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(bias_desc(dst), eng, const_cast<float*>(bias)));
  if (epi.residual) {
    const int index = epi.activation != dnnl::algorithm::undef ? 1 : 0;  // position in the post-op chain
    args.emplace(DNNL_ARG_ATTR_MULTIPLE_POST_OP(index) | DNNL_ARG_SRC_1,
                 dnnl::memory(residual_md(dst), eng, const_cast<float*>(epi.residual)));
  }
  if (const size_t need = p.scratchpad_md.get_size(); need > 0)
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 dnnl::memory(p.scratchpad_md, eng, thread_scratch<DnnlScratchpadTag>(need, 4096)));
  dnnl::stream& s = dnnl_stream();
  p.prim.execute(s, args);
  s.wait();
}

}  // namespace

dnnl::engine& dnnl_engine() {
  static EngineHolder* h = new EngineHolder();
  return h->engine;
}

dnnl::stream& dnnl_stream() {
  thread_local dnnl::stream s(dnnl_engine());
  return s;
}

void dnnl_matmul(const MatDesc& src, const void* src_ptr, const MatDesc& wei, const void* wei_ptr, const float* bias,
                 const MatDesc& dst, void* dst_ptr, const GemmEpilogue& epi) {
  PrimEntry p = get_primitive(src, wei, bias != nullptr, dst, false, epi);
  execute(p, src, src_ptr, dnnl::memory(to_md(wei), dnnl_engine(), const_cast<void*>(wei_ptr)), bias, dst, dst_ptr,
          epi);
}

void dnnl_linear_prepacked(const MatDesc& src, const void* src_ptr, const MatDesc& wei, const void* wei_ptr,
                           const std::shared_ptr<Storage>& owner, const float* bias, const MatDesc& dst, void* dst_ptr,
                           const GemmEpilogue& epi) {
  if (!owner || !weight_prepack_enabled()) {
    dnnl_matmul(src, src_ptr, wei, wei_ptr, bias, dst, dst_ptr, epi);
    return;
  }
  PrimEntry p = get_primitive(src, wei, bias != nullptr, dst, true, epi);
  dnnl::engine& eng = dnnl_engine();
  const dnnl::memory::desc plain = to_md(wei);
  if (p.weights_md == plain) {
    execute(p, src, src_ptr, dnnl::memory(plain, eng, const_cast<void*>(wei_ptr)), bias, dst, dst_ptr, epi);
    return;
  }
  const dnnl::memory packed = packed_weights(wei_ptr, plain, p.weights_md, owner);
  execute(p, src, src_ptr, packed, bias, dst, dst_ptr, epi);
}

dnnl::memory packed_weights(const void* wei_ptr, const dnnl::memory::desc& plain, const dnnl::memory::desc& want,
                            const std::shared_ptr<Storage>& owner) {
  dnnl::engine& eng = dnnl_engine();
  std::string key;
  key.append(reinterpret_cast<const char*>(&wei_ptr), sizeof(wei_ptr));
  const auto dims = plain.dims();
  key.append(reinterpret_cast<const char*>(dims.data()), dims.size() * sizeof(dims[0]));
  key.append(reinterpret_cast<const char*>(plain.data.format_desc.blocking.strides), dims.size() * sizeof(dims[0]));
  key.push_back(static_cast<char>(plain.data_type()));
  key.push_back(static_cast<char>(want.data_type()));
  Caches& c = caches();
  {
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.packed.find(key);
    if (it != c.packed.end()) {
      std::shared_ptr<Storage> o = it->second.owner.lock();
      if (o && o == owner && it->second.md == want) return it->second.mem;
    }
  }
  dnnl::memory packed(want, eng);
  dnnl::memory plain_m(plain, eng, const_cast<void*>(wei_ptr));
  dnnl::stream& s = dnnl_stream();
  dnnl::reorder(plain_m, packed).execute(s, plain_m, packed);
  s.wait();
  std::lock_guard<std::mutex> lock(c.mu);
  // Drop packed copies of weights that no longer exist.
  for (auto it = c.packed.begin(); it != c.packed.end();) {
    if (it->second.owner.expired()) {
      it = c.packed.erase(it);
    } else {
      ++it;
    }
  }
  c.packed[key] = PackedEntry{owner, want, packed, std::make_shared<MemoryCharge>(Device::cpu(), want.get_size())};
  return packed;
}

void dnnl_clear_caches() {
  Caches& c = caches();
  std::lock_guard<std::mutex> lock(c.mu);
  c.prims.clear();
  c.packed.clear();
}

size_t dnnl_packed_weights() {
  Caches& c = caches();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.packed.size();
}

size_t dnnl_cache_size() {
  Caches& c = caches();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.prims.size();
}

}  // namespace ia::cpu
