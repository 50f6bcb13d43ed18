#pragma once
// Typed access to tokenizer.json fields. Every failure is an ia::Error of kind
// Corrupt that names the component and the field, so a malformed file is
// reported instead of crashing (nlohmann's own exceptions never escape).
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizers/input_limits.h"

namespace ia::tok::js {

// Counts how deep Sequence components nest while one is being built (on this
// thread); Corrupt past kMaxSequenceNesting, before recursion can run deep.
class SequenceNestingGuard {
 public:
  explicit SequenceNestingGuard(const char* what) {
    if (depth() >= kMaxSequenceNesting)
      fail(ErrorKind::Corrupt, "{}: Sequences nested deeper than {} levels (the limit)", what, kMaxSequenceNesting);
    ++depth();
  }
  ~SequenceNestingGuard() { --depth(); }
  SequenceNestingGuard(const SequenceNestingGuard&) = delete;
  SequenceNestingGuard& operator=(const SequenceNestingGuard&) = delete;

 private:
  static int& depth() {
    thread_local int d = 0;
    return d;
  }
};

using json = nlohmann::json;

inline const json& field(const json& obj, const char* key, const std::string& what) {
  if (!obj.is_object()) fail(ErrorKind::Corrupt, "{}: expected a JSON object", what);
  auto it = obj.find(key);
  if (it == obj.end()) fail(ErrorKind::Corrupt, "{}: missing field '{}'", what, key);
  return *it;
}

inline const json* opt(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

inline std::string str(const json& obj, const char* key, const std::string& what) {
  const json& v = field(obj, key, what);
  if (!v.is_string()) fail(ErrorKind::Corrupt, "{}: field '{}' must be a string", what, key);
  return v.get<std::string>();
}

inline std::string str_or(const json& obj, const char* key, const std::string& what, const std::string& def) {
  const json* v = opt(obj, key);
  if (!v) return def;
  if (!v->is_string()) fail(ErrorKind::Corrupt, "{}: field '{}' must be a string", what, key);
  return v->get<std::string>();
}

inline bool boolean_or(const json& obj, const char* key, const std::string& what, bool def) {
  const json* v = opt(obj, key);
  if (!v) return def;
  if (!v->is_boolean()) fail(ErrorKind::Corrupt, "{}: field '{}' must be a boolean", what, key);
  return v->get<bool>();
}

inline int64_t integer(const json& v, const std::string& what, const char* key) {
  if (!v.is_number_integer()) fail(ErrorKind::Corrupt, "{}: field '{}' must be an integer", what, key);
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) fail(ErrorKind::Corrupt, "{}: field '{}' out of range", what, key);
    return static_cast<int64_t>(u);
  }
  return v.get<int64_t>();
}

inline int64_t integer_or(const json& obj, const char* key, const std::string& what, int64_t def) {
  const json* v = opt(obj, key);
  if (!v) return def;
  return integer(*v, what, key);
}

inline int32_t token_id(const json& v, const std::string& what, const char* key) {
  const int64_t id = integer(v, what, key);
  if (id < 0 || id > INT32_MAX) fail(ErrorKind::Corrupt, "{}: token id {} in '{}' out of range", what, id, key);
  return static_cast<int32_t>(id);
}

inline std::string type_of(const json& obj, const std::string& what) {
  if (!obj.is_object()) fail(ErrorKind::Corrupt, "{}: expected a JSON object", what);
  return str(obj, "type", what);
}

inline const json& array(const json& obj, const char* key, const std::string& what) {
  const json& v = field(obj, key, what);
  if (!v.is_array()) fail(ErrorKind::Corrupt, "{}: field '{}' must be an array", what, key);
  return v;
}

}  // namespace ia::tok::js
