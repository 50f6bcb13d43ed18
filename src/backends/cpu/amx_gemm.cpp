// Many-row bf16 GEMM on AMX tiles. Every function that runs tile or AVX-512 instructions
// carries IA_AMX_GEMM (a target attribute), as in kernels_avx512.cpp, so none leaks into code
// the baseline build shares.
//
// GCC 12's intrinsic headers self-initialise "undefined" vectors, which trips
// -Wuninitialized once inlined; the warning is spurious here.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "backends/cpu/amx_gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "backends/cpu/amx_permission.h"
#include "backends/cpu/amx_tile_config.h"
#include "backends/cpu/cpu_common.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/thread_scratch.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/storage.h"
#include "core/thread_pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define IA_HAVE_AMX_GEMM_TU 1
#define IA_AMX_GEMM __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,amx-tile,amx-bf16,fma,avx2")))
#endif

namespace ia::cpu {

AmxPackedWeights pack_amx_weights(const uint16_t* w, int64_t N, int64_t K, int64_t ldw) {
  IA_CHECK(K > 0 && K % 32 == 0 && N > 0, "amx gemm: K {} must be a positive multiple of 32, N {} positive", K, N);
  AmxPackedWeights p;
  p.N = N;
  p.K = K;
  p.nblocks = (N + 31) / 32 * 2;
  p.kblocks = K / 32;
  const size_t bytes = static_cast<size_t>(p.bytes());
  p.data.reset(static_cast<uint16_t*>(std::aligned_alloc(64, bytes)));
  if (!p.data) throw std::bad_alloc();
  uint16_t* out = p.data.get();
  // Each (block, k tile) reads 16 weight rows' 64-byte runs: one pass over w, in row order
  // within a block.
  parallel_for(p.nblocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t nb = b0; nb < b1; ++nb) {
      for (int64_t kb = 0; kb < p.kblocks; ++kb) {
        uint16_t* tile = out + (nb * p.kblocks + kb) * 512;
        for (int64_t c = 0; c < 16; ++c) {
          const int64_t n = nb * 16 + c;
          const uint16_t* row = n < N ? w + n * ldw + kb * 32 : nullptr;
          for (int64_t r = 0; r < 16; ++r) {
            tile[r * 32 + 2 * c] = row ? row[2 * r] : uint16_t{0};
            tile[r * 32 + 2 * c + 1] = row ? row[2 * r + 1] : uint16_t{0};
          }
        }
      }
    }
  });
  return p;
}

namespace {

struct PackedEntry {
  std::weak_ptr<Storage> owner;
  std::shared_ptr<const AmxPackedWeights> packed;
};

struct PackedCache {
  std::mutex mu;
  std::unordered_map<std::string, PackedEntry> entries;
};

// Leaked on purpose: tensors destroyed during static destruction may still call in.
PackedCache& packed_cache() {
  static PackedCache* c = new PackedCache();
  return *c;
}

}  // namespace

std::shared_ptr<const AmxPackedWeights> cached_amx_weights(const uint16_t* w, int64_t N, int64_t K, int64_t ldw,
                                                           const std::shared_ptr<Storage>& owner) {
  std::string key(reinterpret_cast<const char*>(&w), sizeof(w));
  for (int64_t v : {N, K, ldw}) key.append(reinterpret_cast<const char*>(&v), sizeof(v));
  PackedCache& c = packed_cache();
  // One lock over the packing too: two threads asking for the same weights pack them once.
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.entries.find(key);
  if (it != c.entries.end()) {
    std::shared_ptr<Storage> o = it->second.owner.lock();
    if (o && o == owner) return it->second.packed;
  }
  for (auto e = c.entries.begin(); e != c.entries.end();) {
    if (e->second.owner.expired()) {
      e = c.entries.erase(e);
    } else {
      ++e;
    }
  }
  auto packed = std::make_shared<const AmxPackedWeights>(pack_amx_weights(w, N, K, ldw));
  c.entries[key] = PackedEntry{owner, packed};
  return packed;
}

size_t amx_weight_cache_size() {
  PackedCache& c = packed_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.entries.size();
}

void clear_amx_weight_cache() {
  PackedCache& c = packed_cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.entries.clear();
}

const AmxGemmSchedule& amx_gemm_default_schedule() {
  static const AmxGemmSchedule schedule = [] {
    // A value that is not what the knob takes is said once, not silently replaced by the
    // default: these knobs exist to compare schedules, and a typo would compare the default
    // with itself.
    auto env = [](const char* name, long fallback) {
      const char* e = std::getenv(name);
      if (e == nullptr || *e == '\0') return fallback;
      char* end = nullptr;
      const long v = std::strtol(e, &end, 10);
      if (*end == '\0') return v;
      spdlog::warn("{}={} is not an integer; using {}", name, e, fallback);
      return fallback;
    };
    AmxGemmSchedule s;
    s.interleaved = env("IA_AMX_GEMM_INTERLEAVED", s.interleaved ? 1 : 0) != 0;
    s.stream_weights = env("IA_AMX_GEMM_STREAM", s.stream_weights ? 1 : 0) != 0;
    const long k_block = env("IA_AMX_GEMM_KBLOCK", s.k_block);
    if (k_block != s.k_block && (k_block <= 0 || k_block % 32 != 0))
      spdlog::warn("IA_AMX_GEMM_KBLOCK={} is not a positive multiple of 32; using the whole K", k_block);
    s.k_block = k_block > 0 && k_block % 32 == 0 ? k_block : 0;
    const long chunk_kb = env("IA_AMX_GEMM_CHUNK_KB", 0);
    s.chunk_bytes = chunk_kb > 0 ? static_cast<int64_t>(chunk_kb) * 1024 : 0;
    return s;
  }();
  return schedule;
}

#if IA_HAVE_AMX_GEMM_TU
namespace {

// Packed columns each thread keeps in L2 while it walks its row panels: at least 8 column
// panels, so each row panel fetched (from L3 at large K: 192 KiB at K = 3072) feeds 8 of them,
// within 0.5-1.5 MiB of a 2 MiB L2.
int64_t chunk_bytes(int64_t panel_bytes, const AmxGemmSchedule& schedule) {
  if (schedule.chunk_bytes > 0) return schedule.chunk_bytes;
  return std::clamp<int64_t>(8 * panel_bytes, int64_t{512} << 10, int64_t{1536} << 10);
}

// The tile unit: all 8 tiles as 16 rows of 64 bytes for this thread while it lives.
struct AmxTiles {
  IA_AMX_GEMM AmxTiles() {
    const TileConfig cfg = full_tiles(8);
    _tile_loadconfig(&cfg);
  }
  IA_AMX_GEMM ~AmxTiles() { _tile_release(); }  // no tile state to save at the next switch
  AmxTiles(const AmxTiles&) = delete;
  AmxTiles& operator=(const AmxTiles&) = delete;
};

// The same operations on memory, as the ISA reference defines them (C f32 16 x 16; A bf16
// 16 x 32; B bf16 16 k-pairs x 16 columns x 2).
struct EmulatedTiles {
  alignas(64) unsigned char tile[8][1024] = {};
  void zero(int t) { std::memset(tile[t], 0, 1024); }
  void load(int t, const void* p, int64_t stride_bytes) {
    for (int r = 0; r < 16; ++r) std::memcpy(tile[t] + r * 64, static_cast<const char*>(p) + r * stride_bytes, 64);
  }
  static float widen(uint16_t v) {
    const uint32_t u = static_cast<uint32_t>(v) << 16;
    float f;
    std::memcpy(&f, &u, sizeof(f));
    return f;
  }
  void dp(int ct, int at, int bt) {
    float c[16][16];
    uint16_t a[16][32], b[16][32];
    std::memcpy(c, tile[ct], 1024);
    std::memcpy(a, tile[at], 1024);
    std::memcpy(b, tile[bt], 1024);
    for (int m = 0; m < 16; ++m)
      for (int n = 0; n < 16; ++n)
        for (int q = 0; q < 16; ++q)
          c[m][n] += widen(a[m][2 * q]) * widen(b[q][2 * n]) + widen(a[m][2 * q + 1]) * widen(b[q][2 * n + 1]);
    std::memcpy(tile[ct], c, 1024);
  }
  void store(int t, void* p, int64_t stride_bytes) {
    for (int r = 0; r < 16; ++r) std::memcpy(static_cast<char*>(p) + r * stride_bytes, tile[t] + r * 64, 64);
  }
};

// c[32][32] (+)= a packed row panel x two packed column blocks b0, b1 over k tiles [kb0, kb1):
// tiles 0-3 accumulate (2 row halves x 2 column blocks), 4-5 hold A, 6-7 hold B; with
// `accumulate` they start from c (the partial sums of earlier k blocks), else from zero. One
// body for the tile unit and its emulation: GCC's tile intrinsics take the tile number as
// literal text, so the operations come in as macro names.
#define IA_KSTEP_GROUPED(TLOAD, TLOADB, TDP) \
  TLOAD(4, a + kb * 1024, 64);               \
  TLOADB(6, b0 + kb * 512, 64);              \
  TLOADB(7, b1 + kb * 512, 64);              \
  TLOAD(5, a + kb * 1024 + 512, 64);         \
  TDP(0, 4, 6);                              \
  TDP(1, 4, 7);                              \
  TDP(2, 5, 6);                              \
  TDP(3, 5, 7)
#define IA_KSTEP_INTERLEAVED(TLOAD, TLOADB, TDP) \
  TLOAD(4, a + kb * 1024, 64);                   \
  TLOADB(6, b0 + kb * 512, 64);                  \
  TDP(0, 4, 6);                                  \
  TLOADB(7, b1 + kb * 512, 64);                  \
  TDP(1, 4, 7);                                  \
  TLOAD(5, a + kb * 1024 + 512, 64);             \
  TDP(2, 5, 6);                                  \
  TDP(3, 5, 7)
#define IA_PANEL_PRODUCT(TZERO, TLOAD, TLOADB, TDP, TSTORE, KSTEP) \
  do {                                                             \
    if (accumulate) {                                              \
      TLOAD(0, c, 128);                                            \
      TLOAD(1, c + 16, 128);                                       \
      TLOAD(2, c + 16 * 32, 128);                                  \
      TLOAD(3, c + 16 * 32 + 16, 128);                             \
    } else {                                                       \
      TZERO(0);                                                    \
      TZERO(1);                                                    \
      TZERO(2);                                                    \
      TZERO(3);                                                    \
    }                                                              \
    for (int64_t kb = kb0; kb < kb1; ++kb) {                       \
      KSTEP(TLOAD, TLOADB, TDP);                                   \
    }                                                              \
    TSTORE(0, c, 128);                                             \
    TSTORE(1, c + 16, 128);                                        \
    TSTORE(2, c + 16 * 32, 128);                                   \
    TSTORE(3, c + 16 * 32 + 16, 128);                              \
  } while (0)

template <bool Interleaved, bool StreamWeights>
IA_AMX_GEMM __attribute__((always_inline)) inline void panel_product(AmxTiles&, const uint16_t* a, const uint16_t* b0,
                                                                     const uint16_t* b1, int64_t kb0, int64_t kb1,
                                                                     bool accumulate, float* c) {
  if constexpr (Interleaved && StreamWeights) {
    IA_PANEL_PRODUCT(_tile_zero, _tile_loadd, _tile_stream_loadd, _tile_dpbf16ps, _tile_stored, IA_KSTEP_INTERLEAVED);
  } else if constexpr (Interleaved) {
    IA_PANEL_PRODUCT(_tile_zero, _tile_loadd, _tile_loadd, _tile_dpbf16ps, _tile_stored, IA_KSTEP_INTERLEAVED);
  } else if constexpr (StreamWeights) {
    IA_PANEL_PRODUCT(_tile_zero, _tile_loadd, _tile_stream_loadd, _tile_dpbf16ps, _tile_stored, IA_KSTEP_GROUPED);
  } else {
    IA_PANEL_PRODUCT(_tile_zero, _tile_loadd, _tile_loadd, _tile_dpbf16ps, _tile_stored, IA_KSTEP_GROUPED);
  }
}

template <bool Interleaved, bool StreamWeights>
inline void panel_product(EmulatedTiles& t, const uint16_t* a, const uint16_t* b0, const uint16_t* b1, int64_t kb0,
                          int64_t kb1, bool accumulate, float* c) {
  if constexpr (Interleaved) {
    IA_PANEL_PRODUCT(t.zero, t.load, t.load, t.dp, t.store, IA_KSTEP_INTERLEAVED);
  } else {
    IA_PANEL_PRODUCT(t.zero, t.load, t.load, t.dp, t.store, IA_KSTEP_GROUPED);
  }
}
#undef IA_PANEL_PRODUCT
#undef IA_KSTEP_INTERLEAVED
#undef IA_KSTEP_GROUPED

// Bias, activation and residual on one 32 x 32 block's valid rows and columns, then out.
IA_AMX_GEMM void finish_block(float* c, int64_t rows, int64_t m0, int64_t n0, int64_t cols, const AmxEpilogue& e,
                              int64_t N, float* of, uint16_t* ob, int64_t ldo, const Kernels& k) {
  const __mmask16 lo = cols >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << cols) - 1u);
  const __mmask16 hi = cols >= 32   ? __mmask16(0xFFFF)
                       : cols <= 16 ? __mmask16(0)
                                    : static_cast<__mmask16>((1u << (cols - 16)) - 1u);
  __m512 b_lo = _mm512_setzero_ps(), b_hi = _mm512_setzero_ps();
  if (e.bias) {
    b_lo = _mm512_maskz_loadu_ps(lo, e.bias + n0);
    b_hi = _mm512_maskz_loadu_ps(hi, e.bias + n0 + 16);
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* row = c + r * 32;
    __m512 v0 = _mm512_add_ps(_mm512_load_ps(row), b_lo);
    __m512 v1 = _mm512_add_ps(_mm512_load_ps(row + 16), b_hi);
    if (e.has_activation) {
      _mm512_store_ps(row, v0);
      _mm512_store_ps(row + 16, v1);
      activation_row(k, e.activation, row, row, cols);
      v0 = _mm512_load_ps(row);
      v1 = _mm512_load_ps(row + 16);
    }
    if (e.residual) {
      const float* res = e.residual + (m0 + r) * N + n0;
      v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(lo, res));
      v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(hi, res + 16));
    }
    if (of) {
      float* o = of + (m0 + r) * ldo + n0;
      _mm512_mask_storeu_ps(o, lo, v0);
      _mm512_mask_storeu_ps(o + 16, hi, v1);
    } else {
      _mm512_store_ps(row, v0);
      _mm512_store_ps(row + 16, v1);
      k.f32_to_bf16(row, ob + (m0 + r) * ldo + n0, cols);
    }
  }
}

// x as the tiles' A operand, packed once per call: 32-row panels of 32-k tiles, each panel's
// two 16-row halves adjacent, so a tile load reads 1 KiB in order. Read in place, rows whose
// stride is a multiple of 4 KiB map to one L1 set and thrash it (K = 2048: a third of the
// rate). Rows past M are zero. f32 rows are rounded to bf16 here, in the same pass.
// Layout: a[(panel * kblocks + kb) * 1024 + r * 32 + k % 32], r < 32 the row in the panel.
void pack_rows(const AmxInput& x, int64_t M, int64_t K, uint16_t* a, const Kernels& k) {
  const int64_t kblocks = K / 32, panels = (M + 31) / 32;
  parallel_for(panels, 1, [&](int64_t p0, int64_t p1) {
    std::vector<uint16_t> row(static_cast<size_t>(K));
    for (int64_t p = p0; p < p1; ++p) {
      uint16_t* panel = a + p * kblocks * 1024;
      for (int64_t r = 0; r < 32; ++r) {
        const int64_t m = p * 32 + r;
        const uint16_t* src = row.data();
        if (m >= M) {
          std::fill(row.begin(), row.end(), uint16_t{0});
        } else if (x.bf16) {
          src = x.bf16 + m * x.ld;
        } else {
          k.f32_to_bf16(x.f32 + m * x.ld, row.data(), K);
        }
        for (int64_t kb = 0; kb < kblocks; ++kb)
          std::memcpy(panel + kb * 1024 + r * 32, src + kb * 32, 32 * sizeof(uint16_t));
      }
    }
  });
}

struct PackedRowsTag {};
struct PartialSumsTag {};

// Units [u0, u1) of (column chunk, 32-row panel), chunk-major: consecutive units of one
// thread reuse the chunk's packed columns from L2 while the row panels stream past. With k
// blocks, every column panel of the chunk takes one block before the next block starts, so the
// row panel's slice stays in L1; the chunk's 32 x 32 partial sums wait in `partial`.
template <class Tiles, bool Interleaved, bool StreamWeights>
IA_AMX_GEMM void gemm_units(const uint16_t* a, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* of,
                            uint16_t* ob, int64_t ldo, int64_t m_panels, int64_t panels_per_chunk,
                            int64_t k_block_tiles, int64_t u0, int64_t u1) {
  const Kernels& k = kernels();
  const int64_t n_panels = w.nblocks / 2, kblocks = w.kblocks;
  const bool one_block = k_block_tiles >= kblocks;
  float* partial = static_cast<float*>(
      thread_scratch<PartialSumsTag>(static_cast<size_t>(one_block ? 1 : panels_per_chunk) * 1024 * sizeof(float)));
  Tiles t;
  for (int64_t u = u0; u < u1; ++u) {
    const int64_t chunk = u / m_panels, mp = u % m_panels, m0 = mp * 32;
    const int64_t rows = std::min<int64_t>(32, M - m0);
    const uint16_t* panel = a + mp * kblocks * 1024;
    const int64_t p0 = chunk * panels_per_chunk, p1 = std::min(n_panels, p0 + panels_per_chunk);
    auto finish = [&](int64_t p, float* c) {
      const int64_t n0 = p * 32;
      finish_block(c, rows, m0, n0, std::min<int64_t>(32, w.N - n0), e, w.N, of, ob, ldo, k);
    };
    if (one_block) {
      for (int64_t p = p0; p < p1; ++p) {
        const uint16_t* b0 = w.data.get() + (2 * p) * kblocks * 512;
        panel_product<Interleaved, StreamWeights>(t, panel, b0, b0 + kblocks * 512, 0, kblocks, false, partial);
        finish(p, partial);
      }
      continue;
    }
    for (int64_t kb0 = 0; kb0 < kblocks; kb0 += k_block_tiles) {
      const int64_t kb1 = std::min(kblocks, kb0 + k_block_tiles);
      for (int64_t p = p0; p < p1; ++p) {
        const uint16_t* b0 = w.data.get() + (2 * p) * kblocks * 512;
        panel_product<Interleaved, StreamWeights>(t, panel, b0, b0 + kblocks * 512, kb0, kb1, kb0 > 0,
                                                  partial + (p - p0) * 1024);
      }
    }
    for (int64_t p = p0; p < p1; ++p) finish(p, partial + (p - p0) * 1024);
  }
}

template <class Tiles>
void run_gemm(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* of, uint16_t* ob,
              int64_t ldo, const AmxGemmSchedule& schedule) {
  IA_CHECK((of == nullptr) != (ob == nullptr), "amx gemm: exactly one output");
  IA_CHECK((x.f32 == nullptr) != (x.bf16 == nullptr), "amx gemm: exactly one input");
  IA_CHECK(schedule.k_block >= 0 && schedule.k_block % 32 == 0, "amx gemm: k block {} must be a multiple of 32",
           schedule.k_block);
  if (M <= 0) return;
  const int64_t m_panels = (M + 31) / 32, n_panels = w.nblocks / 2;
  // The packed rows, for this calling thread.
  auto* a = static_cast<uint16_t*>(thread_scratch<PackedRowsTag>(static_cast<size_t>(m_panels * w.kblocks) * 2048));
  pack_rows(x, M, w.K, a, kernels());
  const int64_t panel_bytes = 32 * w.K * static_cast<int64_t>(sizeof(uint16_t));
  const int64_t panels_per_chunk = std::clamp<int64_t>(chunk_bytes(panel_bytes, schedule) / panel_bytes, 1, n_panels);
  const int64_t chunks = (n_panels + panels_per_chunk - 1) / panels_per_chunk;
  const int64_t k_block_tiles = schedule.k_block > 0 ? schedule.k_block / 32 : w.kblocks;
  const uint16_t* ap = a;
  parallel_for(chunks * m_panels, 1, [&](int64_t u0, int64_t u1) {
    auto run = [&](auto interleaved, auto stream) {
      gemm_units<Tiles, decltype(interleaved)::value, decltype(stream)::value>(ap, M, w, e, of, ob, ldo, m_panels,
                                                                               panels_per_chunk, k_block_tiles, u0, u1);
    };
    using T = std::true_type;
    using F = std::false_type;
    if (schedule.interleaved) {
      schedule.stream_weights ? run(T{}, T{}) : run(T{}, F{});
    } else {
      schedule.stream_weights ? run(F{}, T{}) : run(F{}, F{});
    }
  });
}

}  // namespace

void amx_gemm_bf16(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* out_f32,
                   uint16_t* out_bf16, int64_t ldo, const AmxGemmSchedule& schedule) {
  IA_CHECK(amx_bf16_usable(), "amx gemm: this process cannot use AMX-BF16 tiles");
  run_gemm<AmxTiles>(x, M, w, e, out_f32, out_bf16, ldo, schedule);
}

bool amx_gemm_bf16_emulated(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e,
                            float* out_f32, uint16_t* out_bf16, int64_t ldo, const AmxGemmSchedule& schedule) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bw") ||
      !__builtin_cpu_supports("avx512vl") || !__builtin_cpu_supports("avx512dq") ||
      !__builtin_cpu_supports("avx512bf16"))
    return false;
  run_gemm<EmulatedTiles>(x, M, w, e, out_f32, out_bf16, ldo, schedule);
  return true;
}

#else
void amx_gemm_bf16(const AmxInput&, int64_t, const AmxPackedWeights&, const AmxEpilogue&, float*, uint16_t*, int64_t,
                   const AmxGemmSchedule&) {
  fail(ErrorKind::Unsupported, "amx gemm: not built for this CPU architecture");
}

bool amx_gemm_bf16_emulated(const AmxInput&, int64_t, const AmxPackedWeights&, const AmxEpilogue&, float*, uint16_t*,
                            int64_t, const AmxGemmSchedule&) {
  return false;
}
#endif

}  // namespace ia::cpu
