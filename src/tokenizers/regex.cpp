#include "tokenizers/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "tokenizers/json_util.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace {
void onig_init_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encs[1] = {ONIG_ENCODING_UTF8};
    onig_initialize(encs, 1);
  });
}
}  // namespace

Regex::Regex(const std::string& pattern, const std::string& what) : pattern_(pattern), what_(what) {
  onig_init_once();
  if (!uni::is_valid_utf8(pattern)) fail(ErrorKind::Corrupt, "{}: regex is not valid UTF-8", what);
  OnigRegex reg = nullptr;
  OnigErrorInfo einfo{};
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int r = onig_new(&reg, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_RUBY, &einfo);
  if (r != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, r, &einfo);
    fail(ErrorKind::Corrupt, "{}: invalid regex '{}': {}", what, pattern, reinterpret_cast<const char*>(msg));
  }
  reg_ = reg;
}

Regex::~Regex() {
  if (reg_) onig_free(static_cast<OnigRegex>(reg_));
}

Matches Regex::find_matches(std::string_view s) const {
  Matches out;
  if (s.empty()) {
    out.push_back({{0, 0}, false});
    return out;
  }
  auto* reg = static_cast<OnigRegex>(reg_);
  // Bounded backtracking: a pattern such as (a|a)*b would otherwise take
  // exponential time on a long run of 'a'. Real tokenizer patterns stay far
  // below these limits; exceeding one is an error, not a silent non-match.
  OnigMatchParam* param = onig_new_match_param();
  onig_initialize_match_param(param);
  onig_set_retry_limit_in_match_of_match_param(param, kRegexRetryLimitPerMatch);
  onig_set_retry_limit_in_search_of_match_param(param, kRegexRetryLimitPerSearch);
  OnigRegion* region = onig_region_new();
  const auto* str = reinterpret_cast<const OnigUChar*>(s.data());
  const auto* end = str + s.size();
  // Same iteration as the onig crate's find_iter: an empty match right
  // after the previous match is skipped by stepping one char forward.
  size_t prev = 0, pos = 0;
  bool have_last = false;
  size_t last_end = 0;
  while (pos <= s.size()) {
    const int r = onig_search_with_param(reg, str, end, str + pos, end, region, ONIG_OPTION_NONE, param);
    if (r == ONIG_MISMATCH) break;
    if (r < 0) {
      onig_region_free(region, 1);
      onig_free_match_param(param);
      OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
      onig_error_code_to_str(msg, r);
      fail(ErrorKind::Corrupt, "{}: regex '{}' gave up on this input: {}", what_, pattern_,
           reinterpret_cast<const char*>(msg));
    }
    const auto ms = static_cast<size_t>(region->beg[0]);
    const auto me = static_cast<size_t>(region->end[0]);
    if (ms == me && have_last && last_end == me) {
      if (pos >= s.size()) break;
      size_t len = 1;
      uni::decode(s, pos, &len);
      pos += len;
      continue;
    }
    pos = me;
    have_last = true;
    last_end = me;
    if (prev != ms) out.push_back({{prev, ms}, false});
    out.push_back({{ms, me}, true});
    prev = me;
  }
  onig_region_free(region, 1);
  onig_free_match_param(param);
  if (prev != s.size()) out.push_back({{prev, s.size()}, false});
  return out;
}

Pattern Pattern::from_json(const nlohmann::json& j, const std::string& what) {
  Pattern p;
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: 'pattern' must be an object with String or Regex", what);
  if (const auto* s = js::opt(j, "String")) {
    if (!s->is_string()) fail(ErrorKind::Corrupt, "{}: pattern String must be a string", what);
    p.literal_ = s->get<std::string>();
  } else if (const auto* r = js::opt(j, "Regex")) {
    if (!r->is_string()) fail(ErrorKind::Corrupt, "{}: pattern Regex must be a string", what);
    p.regex_ = std::make_shared<Regex>(r->get<std::string>(), what);
  } else {
    fail(ErrorKind::Corrupt, "{}: 'pattern' must be an object with String or Regex", what);
  }
  return p;
}

Matches Pattern::find_matches(std::string_view s) const {
  if (regex_) return regex_->find_matches(s);
  return match_string(s, literal_);
}

}  // namespace ia::tok
