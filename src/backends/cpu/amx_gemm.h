#pragma once
// Many-row bf16 linear layers on AMX tiles (encoder batches, prefill): out[M, N] =
// activation(x[M, K] @ w[N, K]^T + bias) + residual, with x as bf16 rows read in place and w
// packed once into the tile product's B layout. Debian 12's oneDNN (2.6) reaches about half of
// the tile unit's rate at BERT shapes, where PyTorch's newer oneDNN reaches twice that.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "backends/backend.h"

namespace ia {
class Storage;
}

namespace ia::cpu {

// w [N, K] bf16 as 16-column blocks of 32-k tiles, 1 KiB each, a block's tiles in k order:
// data[(nb * kblocks + kb) * 512 + r * 32 + 2 c + e] = w[16 nb + c, 32 kb + 2 r + e], zero
// past N. nblocks is even: the kernel takes columns 32 at a time.
struct AmxPackedWeights {
  struct FreeDeleter {
    void operator()(uint16_t* p) const { std::free(p); }
  };
  int64_t N = 0, K = 0;
  int64_t nblocks = 0, kblocks = 0;
  std::unique_ptr<uint16_t[], FreeDeleter> data;
  int64_t bytes() const { return nblocks * kblocks * 1024; }
};

// K must be a multiple of 32.
AmxPackedWeights pack_amx_weights(const uint16_t* w, int64_t N, int64_t K, int64_t ldw);

// The packed copy of weights owned by `owner`, packed on first use and dropped once the owner
// is gone (the weights' pointer may then be reused by other weights).
std::shared_ptr<const AmxPackedWeights> cached_amx_weights(const uint16_t* w, int64_t N, int64_t K, int64_t ldw,
                                                           const std::shared_ptr<Storage>& owner);
void clear_amx_weight_cache();
size_t amx_weight_cache_size();  // packed copies held now (for tests)

struct AmxEpilogue {
  const float* bias = nullptr;  // [N] or null
  bool has_activation = false;
  Activation activation = Activation::GeluErf;
  const float* residual = nullptr;  // [M, N] f32, row stride N, or null
};

// x [M, K]: f32 rows (rounded to bf16 as they are packed) or bf16 rows, row stride ld >= K.
struct AmxInput {
  const float* f32 = nullptr;
  const uint16_t* bf16 = nullptr;
  int64_t ld = 0;
};

// How the kernel walks the product (the answer is the same; only the speed differs). Each
// thread takes (column chunk, 32-row panel) units; a chunk's packed columns stay in L2 while
// row panels stream past. Within a unit, 2 x 2 tiles accumulate 32 x 32 outputs over K.
//
// The defaults are the schedule measured on the lease machine's AMX Xeon (docs/performance.md,
// "Own AMX GEMM"); the other choices are verified through the tile emulation (amx_gemm_test)
// and wait for a measurement on AMX hardware before one becomes the default
// (tools/bench/device_cpu_bench.sh with IA_SCHEDULES compares them in one run).
struct AmxGemmSchedule {
  // Loads and products interleaved (A0 B0 dp B1 dp A1 dp dp), so the first product starts
  // after two loads instead of four; false: the four loads first.
  bool interleaved = false;
  // Weight tiles loaded with the non-temporal hint (TILELOADDT1): they are read once per row
  // panel, so they should not push the row panel's tiles out of L1.
  bool stream_weights = false;
  // K in blocks of this many (a multiple of 32; 0: all of K at once). With blocks, a row
  // panel's slice of K stays in L1 across all the chunk's columns, and the 32 x 32 partial
  // sums go through memory between blocks.
  int64_t k_block = 0;
  // Bytes of packed columns per chunk (0: sized from the panel, see chunk_bytes()).
  int64_t chunk_bytes = 0;
};
// The default schedule, with IA_AMX_GEMM_INTERLEAVED, IA_AMX_GEMM_STREAM, IA_AMX_GEMM_KBLOCK
// and IA_AMX_GEMM_CHUNK_KB overriding its fields (read once; for tuning on other CPUs).
const AmxGemmSchedule& amx_gemm_default_schedule();

// out = epilogue(x @ w^T): exactly one of out_f32 / out_bf16 set, row stride ldo. Runs on the
// worker pool. Needs amx_bf16_usable().
void amx_gemm_bf16(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* out_f32,
                   uint16_t* out_bf16, int64_t ldo, const AmxGemmSchedule& schedule = amx_gemm_default_schedule());

// The same loops, packing and epilogue with the tile instructions emulated in plain code: lets
// tests check everything but the tile unit on machines without AMX. Needs AVX-512 BF16
// (the epilogue's instructions); false when this CPU lacks them.
bool amx_gemm_bf16_emulated(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e,
                            float* out_f32, uint16_t* out_bf16, int64_t ldo,
                            const AmxGemmSchedule& schedule = amx_gemm_default_schedule());

}  // namespace ia::cpu
