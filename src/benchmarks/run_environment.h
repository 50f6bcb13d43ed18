#pragma once
// Where a benchmark ran: this machine (from the hardware report) and this build (version, the git
// commit it was built from, compiler, backend libraries), recorded with every result so that
// numbers from many machines and commits can be told apart and compared.
#include <string>

#include "benchmarks/bench_result.h"
#include "core/device.h"

namespace ia::benchmarks {

MachineInfo this_machine();
// `device`: the backend of the device a run uses is named beside oneDNN's ("cuda:0 (H100 ...)").
BuildInfo this_build(Device device);
// "2026-12-07T10:04:33Z"
std::string utc_timestamp_now();
// A fresh id for one `bench` invocation: the time and 32 random bits, "20261207T100433Z-1a2b3c4d".
std::string new_run_id();

}  // namespace ia::benchmarks
