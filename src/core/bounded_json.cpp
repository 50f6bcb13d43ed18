#include "core/bounded_json.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <unordered_set>
#include <vector>

namespace ia {

namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] "; keep the rest.
std::string without_exception_id(const char* what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    auto p = s.find("] ");
    if (p != std::string::npos) s = s.substr(p + 2);
  }
  return s;
}

// SAX pass: counts depth and (optionally) remembers the keys of every open
// object. Stops at the first violation; syntax errors are left to the real parse.
class LimitChecker final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit LimitChecker(const JsonLimits& limits) : limits_(limits) {}

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    if (limits_.reject_duplicate_keys) keys_.emplace_back();
    return enter();
  }
  bool key(string_t& k) override {
    if (limits_.reject_duplicate_keys && !keys_.back().insert(k).second) {
      duplicate_ = k;
      return false;
    }
    return true;
  }
  bool end_object() override {
    if (limits_.reject_duplicate_keys) keys_.pop_back();
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    syntax_error_ = true;
    return false;
  }

  bool too_deep() const { return too_deep_; }
  bool syntax_error() const { return syntax_error_; }
  const std::string& duplicate() const { return duplicate_; }

 private:
  bool enter() {
    if (++depth_ > limits_.max_depth) {
      too_deep_ = true;
      return false;
    }
    return true;
  }
  const JsonLimits& limits_;
  size_t depth_ = 0;
  bool too_deep_ = false;
  bool syntax_error_ = false;
  std::string duplicate_;
  std::vector<std::unordered_set<std::string>> keys_;
};

void check_limits(std::string_view text, const std::string& source, const JsonLimits& limits) {
  if (text.size() > limits.max_bytes)
    fail(limits.kind, "{}: {} bytes of JSON exceed the limit of {} bytes", source, text.size(), limits.max_bytes);
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF")
    fail(limits.kind, "{}: not valid JSON: starts with a UTF-8 byte-order mark", source);
  LimitChecker checker(limits);
  nlohmann::json::sax_parse(text.begin(), text.end(), &checker);
  if (checker.too_deep())
    fail(limits.kind, "{}: JSON nested deeper than {} levels (the limit)", source, limits.max_depth);
  if (!checker.duplicate().empty())
    fail(limits.kind, "{}: lists key '{}' twice in one object", source, checker.duplicate());
}

template <class Json>
Json parse_checked(std::string_view text, const std::string& source, const JsonLimits& limits) {
  check_limits(text, source, limits);
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(limits.kind, "{}: not valid JSON: {}", source, without_exception_id(e.what()));
  }
}

}  // namespace

std::string read_bounded_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::NotFound, "{}: cannot open: {}", path, std::strerror(errno));
  std::string out;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > max_bytes) fail(ErrorKind::Corrupt, "{}: larger than the limit of {} bytes", path, max_bytes);
  }
  if (in.bad()) fail(ErrorKind::Corrupt, "{}: read failed: {}", path, std::strerror(errno));
  return out;
}

nlohmann::json parse_json_bounded(std::string_view text, const std::string& source, const JsonLimits& limits) {
  return parse_checked<nlohmann::json>(text, source, limits);
}

nlohmann::ordered_json parse_ordered_json_bounded(std::string_view text, const std::string& source,
                                                  const JsonLimits& limits) {
  return parse_checked<nlohmann::ordered_json>(text, source, limits);
}

}  // namespace ia
