#pragma once
// Turns a user's device request into a Device.
#include <string>

#include "core/device.h"

namespace ia {

// requested: "auto" | "cpu" | "cuda" | "cuda:N".
// "auto": the first CUDA device when the driver reports one AND a CUDA backend
//   is registered; otherwise the CPU (never an error).
// "cuda" (= "cuda:0") / "cuda:N": that device, or ErrorKind::Unavailable saying
//   why (no driver / no device / index out of range / no CUDA backend built).
// Anything else: ErrorKind::InvalidArgument.
Device choose_device(const std::string& requested);

}  // namespace ia
