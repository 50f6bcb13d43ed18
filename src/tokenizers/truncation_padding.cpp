#include "tokenizers/truncation_padding.h"

#include <algorithm>

#include "tokenizers/json_util.h"

namespace ia::tok {

namespace {

bool parse_direction(const nlohmann::json& j, const std::string& what) {
  const std::string d = js::str_or(j, "direction", what, "Right");
  if (d == "Right") return false;
  if (d == "Left") return true;
  fail(ErrorKind::Corrupt, "{}: direction must be Right or Left, got '{}'", what, d);
}

size_t non_negative(const nlohmann::json& j, const char* key, const std::string& what, int64_t def) {
  const int64_t v = js::integer_or(j, key, what, def);
  if (v < 0) fail(ErrorKind::Corrupt, "{}: '{}' must not be negative", what, key);
  return static_cast<size_t>(v);
}

// Keeps `n` tokens of `e` (its start, or its end with `left`).
void keep(Encoding& e, size_t n, bool left) {
  if (e.ids.size() <= n) return;
  const size_t drop = e.ids.size() - n;
  auto cut = [&](auto& v) {
    if (v.size() < drop) return;
    if (left) {
      v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(drop));
    } else {
      v.resize(v.size() - drop);
    }
  };
  cut(e.ids);
  cut(e.type_ids);
  cut(e.special_tokens_mask);
  cut(e.attention_mask);
  cut(e.tokens);
  cut(e.offsets);
}

}  // namespace

std::optional<TruncationParams> parse_truncation(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  const std::string what = "truncation";
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: expected a JSON object", what);
  TruncationParams p;
  p.max_length = non_negative(j, "max_length", what, 512);
  p.stride = non_negative(j, "stride", what, 0);
  p.left = parse_direction(j, what);
  const std::string s = js::str_or(j, "strategy", what, "LongestFirst");
  if (s == "LongestFirst") {
    p.strategy = TruncationParams::Strategy::LongestFirst;
  } else if (s == "OnlyFirst") {
    p.strategy = TruncationParams::Strategy::OnlyFirst;
  } else if (s == "OnlySecond") {
    p.strategy = TruncationParams::Strategy::OnlySecond;
  } else {
    fail(ErrorKind::Corrupt, "{}: unknown strategy '{}'", what, s);
  }
  return p;
}

std::optional<PaddingParams> parse_padding(const nlohmann::json& j) {
  if (j.is_null()) return std::nullopt;
  const std::string what = "padding";
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: expected a JSON object", what);
  PaddingParams p;
  if (const auto* s = js::opt(j, "strategy")) {
    if (s->is_string()) {
      if (s->get<std::string>() != "BatchLongest") {
        fail(ErrorKind::Corrupt, "{}: unknown strategy '{}'", what, s->get<std::string>());
      }
    } else if (s->is_object() && s->contains("Fixed")) {
      p.fixed = non_negative(*s, "Fixed", what, 0);
    } else {
      fail(ErrorKind::Corrupt, "{}: strategy must be \"BatchLongest\" or {{\"Fixed\": n}}", what);
    }
  }
  p.left = parse_direction(j, what);
  p.pad_to_multiple_of = non_negative(j, "pad_to_multiple_of", what, 0);
  if (const auto* v = js::opt(j, "pad_id")) p.pad_id = js::token_id(*v, what, "pad_id");
  if (const auto* v = js::opt(j, "pad_type_id")) p.pad_type_id = js::token_id(*v, what, "pad_type_id");
  p.pad_token = js::str_or(j, "pad_token", what, "[PAD]");
  return p;
}

void truncate_encodings(std::vector<Encoding>& encs, const TruncationParams& p, size_t max_length) {
  if (encs.empty()) return;
  if (max_length == 0) {
    for (auto& e : encs) keep(e, 0, p.left);
    return;
  }
  size_t total = 0;
  for (const auto& e : encs) total += e.ids.size();
  if (total <= max_length) return;
  const size_t to_remove = total - max_length;
  if (p.strategy == TruncationParams::Strategy::LongestFirst) {
    if (encs.size() < 2) {
      keep(encs[0], total - to_remove, p.left);
      return;
    }
    // The shorter input keeps what it can, the longer gets the rest; if both
    // are too long they share max_length (the odd token to the second).
    size_t n1 = encs[0].ids.size(), n2 = encs[1].ids.size();
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
    if (n1 + n2 > max_length) {
      n1 = max_length / 2;
      n2 = n1 + max_length % 2;
    }
    if (swap) std::swap(n1, n2);
    keep(encs[0], n1, p.left);
    keep(encs[1], n2, p.left);
    return;
  }
  const bool first = p.strategy == TruncationParams::Strategy::OnlyFirst;
  if (!first && encs.size() < 2) {
    fail(ErrorKind::InvalidArgument, "truncation strategy OnlySecond needs a second sequence");
  }
  Encoding& target = encs[first ? 0 : 1];
  if (target.ids.size() <= to_remove) {
    fail(ErrorKind::InvalidArgument, "truncation: the sequence to truncate is too short to remove {} tokens",
         to_remove);
  }
  keep(target, target.ids.size() - to_remove, p.left);
}

void pad_encodings(std::vector<Encoding>& encs, const PaddingParams& p) {
  if (encs.empty()) return;
  size_t target = 0;
  if (p.fixed) {
    target = *p.fixed;
  } else {
    for (const auto& e : encs) target = std::max(target, e.ids.size());
  }
  if (p.pad_to_multiple_of > 0 && target % p.pad_to_multiple_of > 0) {
    target += p.pad_to_multiple_of - target % p.pad_to_multiple_of;
  }
  for (auto& e : encs) {
    if (e.ids.size() >= target) continue;
    const size_t n = target - e.ids.size();
    auto pad = [&](auto& v, const auto& value) { v.insert(p.left ? v.begin() : v.end(), n, value); };
    pad(e.ids, p.pad_id);
    pad(e.type_ids, p.pad_type_id);
    pad(e.special_tokens_mask, 1);
    pad(e.attention_mask, 0);
    pad(e.tokens, p.pad_token);
    pad(e.offsets, std::pair<size_t, size_t>{0, 0});
  }
}

}  // namespace ia::tok
