#pragma once
// The 64-byte tile configuration (palette 1) that ldtilecfg reads, shared by the AMX kernels.
// A plain struct: the instructions that load it live in the files built with AMX targets.
#include <cstdint>

namespace ia::cpu {

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Tiles 0 .. n-1 as 16 rows of 64 bytes (16 f32 or 32 bf16 per row).
inline TileConfig full_tiles(int n) {
  TileConfig cfg;
  for (int t = 0; t < n; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  return cfg;
}

}  // namespace ia::cpu
