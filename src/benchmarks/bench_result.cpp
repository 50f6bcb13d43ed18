// Results as JSON and CSV, and the bounded parser `bench import` reads them back with.
#include "benchmarks/bench_result.h"

#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "core/bounded_json.h"
#include "core/error.h"

namespace ia::benchmarks {

namespace {

using ojson = nlohmann::ordered_json;

ojson stats_json(const SampleStats& s) {
  return ojson{{"count", s.count}, {"min", s.min},   {"median", s.median},
               {"p90", s.p90},     {"mean", s.mean}, {"max", s.max}};
}

// Reads the fields of one object of an untrusted document; every error names the field's path.
class FieldReader {
 public:
  FieldReader(const nlohmann::json& obj, std::string path) : obj_(obj), path_(std::move(path)) {
    if (!obj_.is_object()) bad("", "is not an object");
  }
  std::string str(const char* key, bool required = true) const {
    const nlohmann::json* v = find(key, required);
    if (!v) return "";
    if (!v->is_string()) bad(key, "is not a string");
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > kMaxImportString) bad(key, fmt::format("is longer than {} bytes", kMaxImportString));
    return s;
  }
  double num(const char* key, bool required = true) const {
    const nlohmann::json* v = find(key, required);
    if (!v) return 0;
    if (!v->is_number()) bad(key, "is not a number");
    const double d = v->get<double>();
    if (!std::isfinite(d) || d < 0) bad(key, "is not a finite number >= 0");
    return d;
  }
  int64_t count(const char* key, bool required = true, double max = 1e12) const {
    const double d = num(key, required);
    if (d != std::floor(d) || d > max) bad(key, fmt::format("is not a whole number up to {:.0f}", max));
    return static_cast<int64_t>(d);
  }
  bool has(const char* key) const {
    auto it = obj_.find(key);
    return it != obj_.end() && !it->is_null();
  }
  FieldReader sub(const char* key) const {
    const nlohmann::json* v = find(key, true);
    return FieldReader(*v, path_ + "." + key);
  }
  [[noreturn]] void bad(const std::string& key, const std::string& what) const {
    fail(ErrorKind::InvalidArgument, "{}{} {}", path_, key.empty() ? "" : "." + key, what);
  }

 private:
  const nlohmann::json* find(const char* key, bool required) const {
    auto it = obj_.find(key);
    if (it == obj_.end() || it->is_null()) {
      if (required) bad(key, "is missing");
      return nullptr;
    }
    return &*it;
  }
  const nlohmann::json& obj_;
  std::string path_;
};

SampleStats read_stats(const FieldReader& f) {
  SampleStats s;
  s.count = static_cast<int>(f.count("count", true, 1e9));
  s.min = f.num("min");
  s.median = f.num("median");
  s.p90 = f.num("p90");
  s.mean = f.num("mean", false);
  s.max = f.num("max", false);
  if (!(s.min <= s.median && s.median <= s.p90)) f.bad("", "does not have min <= median <= p90");
  if (s.count < 1) f.bad("count", "is not at least 1");
  return s;
}

// The spread of samples that may be none (a suite that measures no such thing), absent in older
// files: all zero then.
SampleStats read_optional_stats(const FieldReader& f, const char* key) {
  if (!f.has(key)) return {};
  const FieldReader s = f.sub(key);
  if (s.count("count", true, 1e9) == 0) {
    for (const char* k : {"min", "median", "p90", "mean", "max"})
      if (s.num(k, false) != 0) s.bad(k, "is not 0 with no samples");
    return {};
  }
  return read_stats(s);
}

BenchResult read_result(const nlohmann::json& j, const std::string& path) {
  const FieldReader f(j, path);
  BenchResult r;
  r.run_id = f.str("run_id");
  r.started_at = f.str("started_at");
  const FieldReader m = f.sub("machine");
  r.machine.cpu_model = m.str("cpu_model");
  r.machine.cpu_isa = m.str("cpu_isa", false);
  r.machine.physical_cores = static_cast<int>(m.count("physical_cores", false, 1e6));
  r.machine.logical_cores = static_cast<int>(m.count("logical_cores", false, 1e6));
  r.machine.memory_bytes = static_cast<uint64_t>(m.count("memory_bytes", false, 1e18));
  r.machine.gpu_name = m.str("gpu_name", false);
  r.machine.gpu_memory_bytes = static_cast<uint64_t>(m.count("gpu_memory_bytes", false, 1e18));
  r.machine.gpu_driver = m.str("gpu_driver", false);
  r.machine.os = m.str("os", false);
  const FieldReader b = f.sub("build");
  r.build.version = b.str("version");
  r.build.commit = b.str("commit");
  r.build.compiler = b.str("compiler", false);
  r.build.backends = b.str("backends", false);
  const FieldReader mo = f.sub("model");
  r.model.name = mo.str("name");
  r.model.path = mo.str("path", false);
  r.model.family = mo.str("family");
  r.model.task = mo.str("task", false);
  r.model.parameters = mo.count("parameters", false, 1e15);
  r.model.dtype = mo.str("dtype");
  r.model.quantization = mo.str("quantization", false);
  if (r.model.quantization.empty()) r.model.quantization = "none";
  const FieldReader c = f.sub("case");
  r.params.suite = c.str("suite");
  r.params.device = c.str("device");
  r.params.batch = c.count("batch", true, 1e9);
  r.params.seq_len = c.count("seq_len", false, 1e9);
  r.params.new_tokens = c.count("new_tokens", false, 1e9);
  r.params.warmup = static_cast<int>(c.count("warmup", false, 1e6));
  r.params.repetitions = static_cast<int>(c.count("repetitions", false, 1e6));
  const FieldReader me = f.sub("measurement");
  r.measurement.ms = read_stats(me.sub("ms"));
  r.measurement.items_per_run = me.num("items_per_run");
  r.measurement.unit = me.str("unit");
  r.measurement.throughput = me.num("throughput");
  r.measurement.flops_per_run = me.num("flops_per_run", false);
  r.measurement.bytes_per_run = me.num("bytes_per_run", false);
  r.measurement.of_gemm = me.num("of_gemm", false);
  r.measurement.of_copy = me.num("of_copy", false);
  r.measurement.requests = me.count("requests", false);
  r.measurement.errors = me.count("errors", false);
  if (r.measurement.errors > r.measurement.requests) me.bad("errors", "is more than the requests");
  r.measurement.error = me.str("error", false);
  r.measurement.requests_per_s = me.num("requests_per_s", false);
  r.measurement.ttft_ms = read_optional_stats(me, "ttft_ms");
  r.measurement.itl_ms = read_optional_stats(me, "itl_ms");
  const FieldReader ce = f.sub("ceilings");
  r.ceilings.copy_bytes_per_s = ce.num("copy_bytes_per_s", false);
  r.ceilings.gemm_flops_per_s = ce.num("gemm_flops_per_s", false);
  return r;
}

void flatten(const ojson& j, const std::string& prefix,
             const std::function<void(const std::string&, const ojson&)>& fn) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it->is_object())
      flatten(*it, key, fn);
    else
      fn(key, *it);
  }
}

std::string csv_field(const ojson& v) {
  if (!v.is_string()) return v.dump();
  const auto& s = v.get_ref<const std::string&>();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

}  // namespace

std::string MachineInfo::fingerprint() const {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", cpu_model, cpu_isa, physical_cores, logical_cores, memory_bytes >> 30,
                     gpu_name, gpu_memory_bytes >> 30, os);
}

ojson result_json(const BenchResult& r) {
  ojson j;
  j["run_id"] = r.run_id;
  j["started_at"] = r.started_at;
  j["machine"] = ojson{{"cpu_model", r.machine.cpu_model},
                       {"cpu_isa", r.machine.cpu_isa},
                       {"physical_cores", r.machine.physical_cores},
                       {"logical_cores", r.machine.logical_cores},
                       {"memory_bytes", r.machine.memory_bytes},
                       {"gpu_name", r.machine.gpu_name},
                       {"gpu_memory_bytes", r.machine.gpu_memory_bytes},
                       {"gpu_driver", r.machine.gpu_driver},
                       {"os", r.machine.os}};
  j["build"] = ojson{{"version", r.build.version},
                     {"commit", r.build.commit},
                     {"compiler", r.build.compiler},
                     {"backends", r.build.backends}};
  j["model"] = ojson{{"name", r.model.name},
                     {"path", r.model.path},
                     {"family", r.model.family},
                     {"task", r.model.task},
                     {"parameters", r.model.parameters},
                     {"dtype", r.model.dtype},
                     {"quantization", r.model.quantization}};
  j["case"] = ojson{{"suite", r.params.suite},
                    {"device", r.params.device},
                    {"batch", r.params.batch},
                    {"seq_len", r.params.seq_len},
                    {"new_tokens", r.params.new_tokens},
                    {"warmup", r.params.warmup},
                    {"repetitions", r.params.repetitions}};
  const Measurement& m = r.measurement;
  j["measurement"] = ojson{{"ms", stats_json(m.ms)},
                           {"items_per_run", m.items_per_run},
                           {"unit", m.unit},
                           {"throughput", m.throughput},
                           {"flops_per_run", m.flops_per_run},
                           {"bytes_per_run", m.bytes_per_run},
                           {"of_gemm", m.of_gemm},
                           {"of_copy", m.of_copy},
                           {"requests", m.requests},
                           {"errors", m.errors},
                           {"error", m.error},
                           {"requests_per_s", m.requests_per_s},
                           {"ttft_ms", stats_json(m.ttft_ms)},
                           {"itl_ms", stats_json(m.itl_ms)}};
  j["ceilings"] =
      ojson{{"copy_bytes_per_s", r.ceilings.copy_bytes_per_s}, {"gemm_flops_per_s", r.ceilings.gemm_flops_per_s}};
  return j;
}

ojson results_document(const std::vector<BenchResult>& results) {
  ojson doc;
  doc["format"] = kResultsFormat;
  doc["version"] = kResultsFormatVersion;
  doc["results"] = ojson::array();
  for (const auto& r : results) doc["results"].push_back(result_json(r));
  return doc;
}

std::vector<BenchResult> parse_results_document(std::string_view text, const std::string& source) {
  JsonLimits limits;
  limits.max_bytes = kMaxImportBytes;
  limits.max_depth = 8;  // the document nests 4 levels
  limits.kind = ErrorKind::InvalidArgument;
  const nlohmann::json doc = parse_json_bounded(text, source, limits);
  if (!doc.is_object()) fail(ErrorKind::InvalidArgument, "{}: not a results document (a JSON object)", source);
  auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() || *format != kResultsFormat)
    fail(ErrorKind::InvalidArgument, "{}: \"format\" is not \"{}\"", source, kResultsFormat);
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer() || *version != kResultsFormatVersion)
    fail(ErrorKind::InvalidArgument, "{}: \"version\" is not {} (a newer ipfs-accelerate wrote it?)", source,
         kResultsFormatVersion);
  auto results = doc.find("results");
  if (results == doc.end() || !results->is_array())
    fail(ErrorKind::InvalidArgument, "{}: \"results\" is not an array", source);
  if (results->size() > kMaxImportResults)
    fail(ErrorKind::InvalidArgument, "{}: more than {} results", source, kMaxImportResults);
  std::vector<BenchResult> out;
  out.reserve(results->size());
  for (size_t i = 0; i < results->size(); ++i)
    out.push_back(read_result((*results)[i], fmt::format("{}: results[{}]", source, i)));
  return out;
}

std::string results_csv(const std::vector<BenchResult>& results) {
  std::string out;
  const ojson header_source = result_json(BenchResult{});
  std::string header;
  flatten(header_source, "",
          [&](const std::string& key, const ojson&) { header += (header.empty() ? "" : ",") + key; });
  out += header + "\n";
  for (const auto& r : results) {
    std::string line;
    bool first = true;
    flatten(result_json(r), "", [&](const std::string&, const ojson& v) {
      line += (first ? "" : ",") + csv_field(v);
      first = false;
    });
    out += line + "\n";
  }
  return out;
}

}  // namespace ia::benchmarks
