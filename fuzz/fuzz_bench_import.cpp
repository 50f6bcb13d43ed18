// libFuzzer target for `bench import`: another machine's results file through
// parse_results_document. Any input must either give results that are within the documented
// limits and survive a round trip (written with results_document, parsed again to the same
// values), or throw an ia::Error of kind InvalidArgument; anything else (another exception, a
// crash or a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "benchmarks/bench_result.h"
#include "core/error.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  namespace bm = ia::benchmarks;
  try {
    const std::vector<bm::BenchResult> results = bm::parse_results_document(text, "fuzz.json");
    check(results.size() <= bm::kMaxImportResults);
    for (const auto& r : results) {
      check(r.model.name.size() <= bm::kMaxImportString);
      check(r.measurement.ms.min <= r.measurement.ms.median && r.measurement.ms.median <= r.measurement.ms.p90);
      check(r.measurement.ms.count >= 1);
    }
    const std::string again = bm::results_document(results).dump();
    const std::vector<bm::BenchResult> back = bm::parse_results_document(again, "again.json");
    check(back.size() == results.size());
    for (size_t i = 0; i < back.size(); ++i) {
      check(back[i].run_id == results[i].run_id);
      check(back[i].params.batch == results[i].params.batch);
      check(back[i].measurement.ms.median == results[i].measurement.ms.median);
    }
    (void)bm::results_csv(results);
  } catch (const ia::Error& e) {
    check(e.kind() == ia::ErrorKind::InvalidArgument);
  }
  return 0;
}
