#pragma once
// AMX tiles on Linux: the CPU must have them (CPUID) and, since Linux 5.16, the
// process must ask for the tile state once (arch_prctl ARCH_REQ_XCOMP_PERM)
// before any thread executes a tile instruction.

namespace ia::cpu {

// Asks once per process; true when this process may use AMX-BF16 tiles.
bool amx_bf16_usable();

}  // namespace ia::cpu
