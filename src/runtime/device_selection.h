#pragma once
// Turns a user's device request into a Device.
#include <cstdint>
#include <string>

#include "core/device.h"

namespace ia {

// requested: "auto" | "cpu" | "cuda" | "cuda:N".
// "auto": the usable CUDA device with the most free memory whose share
//   (--gpu-memory-fraction) holds `model_bytes`; otherwise the CPU (never an error).
// "cuda" (= "cuda:0") / "cuda:N": that device, or ErrorKind::Unavailable saying
//   why (no driver / no device / index out of range / no CUDA backend built).
// Anything else: ErrorKind::InvalidArgument.
Device choose_device(const std::string& requested, int64_t model_bytes = 0);

}  // namespace ia
