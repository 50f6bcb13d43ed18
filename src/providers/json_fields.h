#pragma once
// Reading fields of a provider's (or a client's) JSON without trusting its types: a field that is
// missing, null or of another type gives the fallback. nlohmann's value() throws type_error on a
// wrong type instead, which would escape the stream callbacks as a crash (fuzz_provider_streams).
#include <string>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace ia::providers {

template <typename T>
T field_or(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  if (it == j.end()) return fallback;
  if constexpr (std::is_same_v<T, bool>) {
    return it->is_boolean() ? it->template get<bool>() : fallback;
  } else if constexpr (std::is_arithmetic_v<T>) {
    if (!it->is_number()) return fallback;
    if constexpr (std::is_unsigned_v<T>) {
      if (!it->is_number_unsigned()) return fallback;  // a negative index is no index
    }
    return it->template get<T>();
  } else {
    return it->is_string() ? it->template get<std::string>() : fallback;
  }
}

inline std::string field_or(const nlohmann::json& j, const char* key, const char* fallback) {
  return field_or<std::string>(j, key, std::string(fallback));
}

}  // namespace ia::providers
