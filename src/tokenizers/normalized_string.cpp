#include "tokenizers/normalized_string.h"

#include <algorithm>

#include "core/error.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

NormalizedString::NormalizedString(std::string original) : original_(std::move(original)) {
  normalized_ = original_;
  alignments_.reserve(original_.size());
  for (size_t i = 0; i < original_.size();) {
    size_t len = 1;
    uni::decode(original_, i, &len);
    for (size_t k = 0; k < len; ++k) alignments_.emplace_back(i, i + len);
    i += len;
  }
}

std::optional<Offsets> NormalizedString::convert_normalized(size_t start, size_t end) const {
  // Mirrors HF: an empty target maps to itself, a reversed or out-of-range one has no mapping.
  if (start == end) return Offsets{start, end};
  if (start > end || end > alignments_.size()) return std::nullopt;
  size_t s = alignments_[start].first, e = alignments_[end - 1].second;
  if (e < s) e = s;
  return Offsets{s, e};
}

NormalizedString NormalizedString::slice(size_t start, size_t end) const {
  NormalizedString out;
  end = std::min(end, normalized_.size());
  start = std::min(start, end);
  const auto orig = convert_normalized(start, end).value_or(Offsets{0, 0});
  const size_t os = std::min(orig.first, original_.size());
  const size_t oe = std::clamp(orig.second, os, original_.size());
  out.original_ = original_.substr(os, oe - os);
  out.normalized_ = normalized_.substr(start, end - start);
  out.alignments_.reserve(end - start);
  for (size_t i = start; i < end; ++i) {
    const auto& a = alignments_[i];
    out.alignments_.emplace_back(a.first >= os ? a.first - os : 0, a.second >= os ? a.second - os : 0);
  }
  out.shift_ = shift_ + os;
  return out;
}

void NormalizedString::transform_range(size_t start, size_t end, const std::vector<CharChange>& dest,
                                       size_t initial_offset) {
  end = std::min(end, normalized_.size());
  start = std::min(start, end);
  size_t cursor = start;  // next not-yet-consumed byte of the replaced range
  auto consume = [&](size_t nchars) {
    for (size_t k = 0; k < nchars && cursor < end; ++k) {
      size_t len = 1;
      uni::decode(normalized_, cursor, &len);
      cursor += len;
    }
  };
  consume(initial_offset);
  std::string repl;
  std::vector<Offsets> aligns;
  repl.reserve(end - start + dest.size());
  aligns.reserve(end - start + dest.size());
  for (const auto& [c, change] : dest) {
    Offsets align{0, 0};
    if (change > 0) {
      // A new char shares the alignment of the byte before it.
      if (cursor >= 1 && cursor - 1 < alignments_.size()) align = alignments_[cursor - 1];
    } else if (cursor < alignments_.size()) {
      align = alignments_[cursor];
    } else if (!alignments_.empty()) {
      align = alignments_.back();
    }
    if (change <= 0) consume(1);
    if (change < 0) consume(static_cast<size_t>(-static_cast<long>(change)));
    const size_t before = repl.size();
    uni::append_utf8(repl, c);
    aligns.insert(aligns.end(), repl.size() - before, align);
  }
  check_growth(normalized_.size() - (end - start) + repl.size());
  normalized_.replace(start, end - start, repl);
  alignments_.erase(alignments_.begin() + static_cast<std::ptrdiff_t>(start),
                    alignments_.begin() + static_cast<std::ptrdiff_t>(end));
  alignments_.insert(alignments_.begin() + static_cast<std::ptrdiff_t>(start), aligns.begin(), aligns.end());
}

void NormalizedString::filter(const std::function<bool(char32_t)>& keep) {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  size_t leading_removed = 0;
  bool any_removed = false;
  for (size_t i = 0; i < normalized_.size();) {
    size_t len = 1;
    const char32_t c = uni::decode(normalized_, i, &len);
    i += len;
    if (keep(c)) {
      dest.emplace_back(c, 0);
    } else {
      any_removed = true;
      // A removed char is accounted to the kept char before it.
      if (dest.empty()) {
        ++leading_removed;
      } else {
        --dest.back().second;
      }
    }
  }
  if (any_removed) transform(dest, leading_removed);
}

void NormalizedString::map(const std::function<char32_t(char32_t)>& f) {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  bool changed = false;
  for (size_t i = 0; i < normalized_.size();) {
    size_t len = 1;
    const char32_t c = uni::decode(normalized_, i, &len);
    i += len;
    const char32_t m = f(c);
    changed = changed || m != c;
    dest.emplace_back(m, 0);
  }
  if (changed) transform(dest, 0);
}

void NormalizedString::lowercase() {
  std::vector<CharChange> dest;
  dest.reserve(normalized_.size());
  bool changed = false;
  char32_t out[3];
  for (size_t i = 0; i < normalized_.size();) {
    size_t len = 1;
    const char32_t c = uni::decode(normalized_, i, &len);
    i += len;
    const int n = uni::to_lower_full(c, out);
    changed = changed || n != 1 || out[0] != c;
    for (int k = 0; k < n; ++k) dest.emplace_back(out[k], k > 0 ? 1 : 0);
  }
  if (changed) transform(dest, 0);
}

void NormalizedString::prepend(std::string_view s) {
  if (normalized_.empty() || s.empty()) return;
  size_t next_len = 1;
  const char32_t next = uni::decode(normalized_, 0, &next_len);
  std::vector<CharChange> dest;
  bool first = true;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    dest.emplace_back(uni::decode(s, i, &len), first ? 0 : 1);
    first = false;
    i += len;
  }
  dest.emplace_back(next, 1);
  transform_range(0, next_len, dest, 0);
}

void NormalizedString::append(std::string_view s) {
  if (normalized_.empty() || s.empty()) return;
  size_t b = normalized_.size() - 1;
  while (b > 0 && uni::is_utf8_continuation(normalized_[b])) --b;
  size_t len = 1;
  const char32_t prev = uni::decode(normalized_, b, &len);
  std::vector<CharChange> dest{{prev, 0}};
  for (size_t i = 0; i < s.size();) {
    dest.emplace_back(uni::decode(s, i, &len), 1);
    i += len;
  }
  transform_range(b, normalized_.size(), dest, 0);
}

void NormalizedString::replace(const Matches& matches, std::string_view content) {
  // One pass building the new text and alignments (a transform_range per
  // match rewrote the tail each time: quadratic on long inputs). Same
  // alignments as HF's per-match transform_range: the inserted chars share the
  // alignment of the last byte before them once the match is consumed.
  size_t matched = 0, match_bytes = 0;
  for (const auto& [range, is_match] : matches) {
    if (is_match && range.first <= range.second && range.second <= normalized_.size()) {
      ++matched;
      match_bytes += range.second - range.first;
    }
  }
  if (matched == 0) return;
  const size_t new_size = normalized_.size() - match_bytes + matched * content.size();
  check_growth(new_size);
  std::string out;
  std::vector<Offsets> aligns;
  out.reserve(new_size);
  aligns.reserve(new_size);
  size_t pos = 0;  // next byte of normalized_ not yet copied
  for (const auto& [range, is_match] : matches) {
    if (!is_match) continue;
    const size_t s = range.first, e = range.second;
    if (s < pos || e < s || e > normalized_.size()) continue;
    out.append(normalized_, pos, s - pos);
    aligns.insert(aligns.end(), alignments_.begin() + static_cast<std::ptrdiff_t>(pos),
                  alignments_.begin() + static_cast<std::ptrdiff_t>(s));
    Offsets align{0, 0};
    if (e > s) {
      align = alignments_[e - 1];
    } else if (!aligns.empty()) {
      align = aligns.back();
    }
    out.append(content);
    aligns.insert(aligns.end(), content.size(), align);
    pos = e;
  }
  out.append(normalized_, pos, std::string::npos);
  aligns.insert(aligns.end(), alignments_.begin() + static_cast<std::ptrdiff_t>(pos), alignments_.end());
  normalized_ = std::move(out);
  alignments_ = std::move(aligns);
}

void NormalizedString::check_growth(size_t new_size) const {
  if (new_size > kMaxNormalizedGrowth * original_.size() + kNormalizedGrowthSlackBytes) {
    fail(ErrorKind::Corrupt, "tokenizer normalizers grow the text past {} times its size ({} bytes from {})",
         kMaxNormalizedGrowth, new_size, original_.size());
  }
}

void NormalizedString::strip(bool left, bool right) {
  std::vector<char32_t> cps;
  cps.reserve(normalized_.size());
  for (size_t i = 0; i < normalized_.size();) {
    size_t len = 1;
    cps.push_back(uni::decode(normalized_, i, &len));
    i += len;
  }
  size_t lead = 0, trail = 0;
  if (left) {
    while (lead < cps.size() && uni::is_whitespace(cps[lead])) ++lead;
  }
  if (right) {
    while (trail < cps.size() - lead && uni::is_whitespace(cps[cps.size() - 1 - trail])) ++trail;
  }
  if (lead == 0 && trail == 0) return;
  std::vector<CharChange> dest;
  const size_t stop = cps.size() - trail;
  for (size_t i = lead; i < stop; ++i) {
    dest.emplace_back(cps[i], i + 1 == stop ? -static_cast<int>(trail) : 0);
  }
  transform(dest, lead);
}

namespace {
void apply_form(NormalizedString& n, uni::NormForm f) {
  std::vector<CharChange> dest;
  if (uni::normalize_with_changes(n.get(), f, dest)) n.transform(dest, 0);
}
}  // namespace

void NormalizedString::nfd() {
  apply_form(*this, uni::NormForm::NFD);
}
void NormalizedString::nfkd() {
  apply_form(*this, uni::NormForm::NFKD);
}
void NormalizedString::nfc() {
  apply_form(*this, uni::NormForm::NFC);
}
void NormalizedString::nfkc() {
  apply_form(*this, uni::NormForm::NFKC);
}

std::vector<NormalizedString> NormalizedString::split(const Matches& matches, SplitBehavior behavior) const {
  // (range, keep) after applying the delimiter behavior.
  std::vector<std::pair<Offsets, bool>> parts;
  parts.reserve(matches.size());
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& m : matches) parts.emplace_back(m.first, true);
      break;
    case SplitBehavior::Removed:
      for (const auto& m : matches) parts.emplace_back(m.first, !m.second);
      break;
    case SplitBehavior::Contiguous: {
      bool prev = false;
      for (const auto& [r, is_match] : matches) {
        if (is_match == prev && !parts.empty()) {
          parts.back().first.second = r.second;
        } else {
          parts.emplace_back(r, true);
        }
        prev = is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithPrevious: {
      bool prev = false;
      for (const auto& [r, is_match] : matches) {
        if (is_match && !prev && !parts.empty()) {
          parts.back().first.second = r.second;
        } else {
          parts.emplace_back(r, true);
        }
        prev = is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool prev = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        const auto& [r, is_match] = *it;
        if (is_match && !prev && !parts.empty()) {
          parts.back().first.first = r.first;
        } else {
          parts.emplace_back(r, true);
        }
        prev = is_match;
      }
      std::reverse(parts.begin(), parts.end());
      break;
    }
  }
  std::vector<NormalizedString> out;
  out.reserve(parts.size());
  for (const auto& [r, keep] : parts) {
    if (keep) out.push_back(slice(r.first, r.second));
  }
  return out;
}

Matches match_chars(std::string_view s, const std::function<bool(char32_t)>& pred) {
  Matches out;
  size_t last = 0;
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const char32_t c = uni::decode(s, i, &len);
    if (pred(c)) {
      if (last < i) out.push_back({{last, i}, false});
      out.push_back({{i, i + len}, true});
      last = i + len;
    }
    i += len;
  }
  if (last < s.size()) out.push_back({{last, s.size()}, false});
  return out;
}

Matches match_string(std::string_view s, std::string_view needle) {
  Matches out;
  if (needle.empty()) {
    out.push_back({{0, s.size()}, false});
    return out;
  }
  size_t last = 0;
  for (size_t pos = s.find(needle); pos != std::string_view::npos; pos = s.find(needle, pos)) {
    if (last < pos) out.push_back({{last, pos}, false});
    out.push_back({{pos, pos + needle.size()}, true});
    pos += needle.size();
    last = pos;
  }
  if (last < s.size()) out.push_back({{last, s.size()}, false});
  return out;
}

}  // namespace ia::tok
