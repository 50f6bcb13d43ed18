#include "server/request_json.h"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "core/bounded_json.h"
#include "core/error.h"
#include "server/api_error.h"

namespace ia::server {

nlohmann::ordered_json parse_request_object(std::string_view body) {
  JsonLimits limits;
  limits.max_depth = kMaxRequestJsonDepth;
  limits.max_bytes = body.size();  // the body is bounded where it is read
  limits.reject_duplicate_keys = true;
  limits.kind = ErrorKind::InvalidArgument;
  nlohmann::ordered_json j;
  try {
    j = parse_ordered_json_bounded(body, "request body", limits);
  } catch (const Error& e) {
    throw ApiError(400, "invalid_request_error", "invalid_json", e.what());
  }
  if (!j.is_object())
    throw ApiError(400, "invalid_request_error", "invalid_json", "the request body must be a JSON object");
  return j;
}

namespace {

const nlohmann::ordered_json* present(const nlohmann::ordered_json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

std::optional<std::string> string_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param,
                                        size_t max_bytes) {
  const auto* v = present(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) throw invalid_field(param, fmt::format("`{}` must be a string", param));
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_bytes) throw invalid_field(param, fmt::format("`{}` is longer than {} bytes", param, max_bytes));
  return s;
}

std::optional<bool> bool_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param) {
  const auto* v = present(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw invalid_field(param, fmt::format("`{}` must be true or false", param));
  return v->get<bool>();
}

nlohmann::ordered_json parameters_object(const nlohmann::ordered_json& obj) {
  const auto* v = present(obj, "parameters");
  if (!v) return nlohmann::ordered_json::object();
  if (!v->is_object()) throw invalid_field("parameters", "`parameters` must be an object");
  return *v;
}

std::optional<int64_t> integer_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param,
                                     int64_t min, int64_t max) {
  const auto* v = present(obj, key);
  if (!v) return std::nullopt;
  int64_t value = 0;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      throw invalid_field(param, fmt::format("`{}` must be an integer in [{}, {}]", param, min, max));
    value = v->get<int64_t>();
  } else if (v->is_number_float()) {
    // 5.0 is an integer to JSON clients in languages without one (JavaScript sends 5).
    const double d = v->get<double>();
    if (!(std::floor(d) == d) || d < -9.2e18 || d > 9.2e18)
      throw invalid_field(param, fmt::format("`{}` must be an integer", param));
    value = static_cast<int64_t>(d);
  } else {
    throw invalid_field(param, fmt::format("`{}` must be an integer", param));
  }
  if (value < min || value > max)
    throw invalid_field(param, fmt::format("`{}` must be in [{}, {}], got {}", param, min, max, value));
  return value;
}

std::optional<double> number_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param,
                                   double min, double max) {
  const auto* v = present(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw invalid_field(param, fmt::format("`{}` must be a number", param));
  const double d = v->get<double>();
  if (!std::isfinite(d) || d < min || d > max)
    throw invalid_field(param, fmt::format("`{}` must be in [{}, {}], got {}", param, min, max, d));
  return d;
}

std::vector<int32_t> token_ids(const nlohmann::ordered_json& v, const std::string& param, size_t max_items) {
  if (!v.is_array()) throw invalid_field(param, fmt::format("`{}` must be a list of token ids", param));
  if (v.size() > max_items)
    throw invalid_field(param, fmt::format("`{}` has {} token ids, more than {}", param, v.size(), max_items));
  std::vector<int32_t> ids;
  ids.reserve(v.size());
  for (const auto& e : v) {
    if (!e.is_number_integer() || (e.is_number_unsigned() && e.get<uint64_t>() > 0x7fffffffu) || e.get<int64_t>() < 0 ||
        e.get<int64_t>() > 0x7fffffff)
      throw invalid_field(param, fmt::format("`{}` must hold token ids (integers >= 0)", param));
    ids.push_back(static_cast<int32_t>(e.get<int64_t>()));
  }
  return ids;
}

bool is_token_id_list(const nlohmann::ordered_json& v) {
  return v.is_array() && !v.empty() && v.front().is_number_integer();
}

}  // namespace ia::server
