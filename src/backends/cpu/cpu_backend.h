#pragma once
#include <memory>
#include <string>

#include "backends/backend.h"

namespace ia::cpu {

// The host backend: oneDNN for GEMMs, own ISA-dispatched kernels for the rest.
std::unique_ptr<Backend> make_cpu_backend();

// The ISA oneDNN runs on ("avx512_core_amx", "avx2", ...), for logs and reports.
std::string onednn_isa_name();

// Frees idle pooled host blocks, cached oneDNN primitives and prepacked
// weights (they are rebuilt on demand). Call after unloading a model.
void release_cached_memory();

}  // namespace ia::cpu
