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

// out = epilogue(x @ w^T): exactly one of out_f32 / out_bf16 set, row stride ldo. Runs on the
// worker pool. Needs amx_bf16_usable().
void amx_gemm_bf16(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e, float* out_f32,
                   uint16_t* out_bf16, int64_t ldo);

// The same loops, packing and epilogue with the tile instructions emulated in plain code: lets
// tests check everything but the tile unit on machines without AMX. Needs AVX-512 BF16
// (the epilogue's instructions); false when this CPU lacks them.
bool amx_gemm_bf16_emulated(const AmxInput& x, int64_t M, const AmxPackedWeights& w, const AmxEpilogue& e,
                            float* out_f32, uint16_t* out_bf16, int64_t ldo);

}  // namespace ia::cpu
