// BPE: split a word into chars, then apply merges by rank (lowest first,
// leftmost on ties), as HF models::bpe does without dropout.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <limits>

#include "tokenizers/json_util.h"
#include "tokenizers/models_impl.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace {
std::optional<std::string> opt_str(const nlohmann::json& j, const char* key, const std::string& what) {
  const auto* v = js::opt(j, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) fail(ErrorKind::Corrupt, "{}: field '{}' must be a string", what, key);
  return v->get<std::string>();
}
}  // namespace

Bpe::Bpe(const nlohmann::json& j) {
  const std::string what = "model BPE";
  vocab_ = Vocab::from_json(js::field(j, "vocab", what), what);
  unk_token_ = opt_str(j, "unk_token", what);
  prefix_ = opt_str(j, "continuing_subword_prefix", what);
  suffix_ = opt_str(j, "end_of_word_suffix", what);
  fuse_unk_ = js::boolean_or(j, "fuse_unk", what, false);
  byte_fallback_ = js::boolean_or(j, "byte_fallback", what, false);
  ignore_merges_ = js::boolean_or(j, "ignore_merges", what, false);
  if (const auto* d = js::opt(j, "dropout"); d && !d->is_number()) {
    fail(ErrorKind::Corrupt, "{}: field 'dropout' must be a number", what);
  }
  const auto& merges = js::array(j, "merges", what);
  if (merges.size() > kMaxMerges)
    fail(ErrorKind::Corrupt, "{}: {} merges, more than the limit of {}", what, merges.size(), kMaxMerges);
  merges_.reserve(merges.size());
  const size_t prefix_len = prefix_ ? prefix_->size() : 0;
  int32_t rank = 0;
  for (const auto& m : merges) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        fail(ErrorKind::Corrupt, "{}: merge '{}' must be two tokens separated by one space", what, s);
      }
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      fail(ErrorKind::Corrupt, "{}: each merge must be \"a b\" or [a, b]", what);
    }
    const auto ia_ = vocab_.find(a), ib = vocab_.find(b);
    if (!ia_ || !ib) fail(ErrorKind::Corrupt, "{}: merge '{} {}' uses a token missing from the vocab", what, a, b);
    const std::string merged = a + (b.size() >= prefix_len ? b.substr(prefix_len) : b);
    const auto im = vocab_.find(merged);
    if (!im) fail(ErrorKind::Corrupt, "{}: merge result '{}' missing from the vocab", what, merged);
    const uint64_t key = pair_key(*ia_, *ib);
    merges_.emplace(key, std::make_pair(rank++, *im));  // the first (lowest rank) wins
  }
  if (unk_token_) unk_id_ = vocab_.find(*unk_token_);
}

void Bpe::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = vocab_.find(word)) {
      out.push_back(Token{*id, std::string(word), {0, word.size()}});
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  thread_local std::vector<Piece> pieces;
  pieces.clear();
  if (!cacheable || !cache_.get(word, pieces)) {
    segment(word, pieces);
    if (cacheable) cache_.put(word, pieces);
  }
  for (const auto& p : pieces) out.push_back(Token{p.id, vocab_.token(p.id).value_or(std::string()), {p.start, p.end}});
}

void Bpe::segment(std::string_view word, std::vector<Piece>& result) const {
  // Symbols form a doubly linked list over a flat array; candidate merges sit
  // in a min-heap by (rank, position) and are checked for staleness when
  // popped, so a word of n chars costs O(n log n) rather than O(n^2).
  struct Sym {
    int32_t id;
    size_t start, end;
    int32_t prev, next;  // -1 at the ends
    bool alive;
  };
  thread_local std::vector<Sym> syms;
  thread_local std::string piece;
  syms.clear();
  std::optional<Sym> unk;
  auto push = [&](int32_t id, size_t start, size_t end) {
    const auto idx = static_cast<int32_t>(syms.size());
    syms.push_back(Sym{id, start, end, idx - 1, -1, true});
  };
  auto flush_unk = [&] {
    if (unk) push(unk->id, unk->start, unk->end);
    unk.reset();
  };
  for (size_t i = 0; i < word.size();) {
    size_t end = i + 1;
    while (end < word.size() && uni::is_utf8_continuation(word[end])) ++end;
    piece.clear();
    if (i > 0 && prefix_) piece += *prefix_;
    piece.append(word.substr(i, end - i));
    if (end == word.size() && suffix_) piece += *suffix_;
    if (auto id = vocab_.find(piece)) {
      flush_unk();
      push(*id, i, end);
    } else {
      bool done = false;
      if (byte_fallback_) {
        // Every byte must have its <0xNN> token, else fall through to unk.
        int32_t ids[4];
        size_t n = 0;
        char code[8];
        for (size_t k = i; k < end && n < 4; ++k) {
          std::snprintf(code, sizeof code, "<0x%02X>", static_cast<unsigned char>(word[k]));
          auto id = vocab_.find(code);
          if (!id) {
            n = 0;
            break;
          }
          ids[n++] = *id;
        }
        if (n == end - i) {
          flush_unk();
          for (size_t k = 0; k < n; ++k) push(ids[k], i + k, i + k + 1);
          done = true;
        }
      }
      if (!done && unk_token_) {
        if (!unk_id_) {
          fail(ErrorKind::InvalidArgument, "BPE: unk_token '{}' is not in the vocabulary", *unk_token_);
        }
        if (unk && fuse_unk_) {
          unk->end = end;
        } else {
          flush_unk();
          unk = Sym{*unk_id_, i, end, -1, -1, true};
        }
      }
    }
    i = end;
  }
  flush_unk();
  for (size_t k = 0; k + 1 < syms.size(); ++k) syms[k].next = static_cast<int32_t>(k + 1);

  struct Cand {
    int32_t rank;
    int32_t left;  // index of the left symbol
    int32_t left_id, right_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  thread_local std::vector<Cand> heap;
  heap.clear();
  auto consider = [&](int32_t l) {
    if (l < 0) return;
    const int32_t r = syms[static_cast<size_t>(l)].next;
    if (r < 0) return;
    const int32_t a = syms[static_cast<size_t>(l)].id, b = syms[static_cast<size_t>(r)].id;
    auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return;
    heap.push_back(Cand{it->second.first, l, a, b});
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  };
  for (size_t k = 0; k + 1 < syms.size(); ++k) consider(static_cast<int32_t>(k));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const Cand c = heap.back();
    heap.pop_back();
    Sym& left = syms[static_cast<size_t>(c.left)];
    // Stale if either side changed since the candidate was queued.
    if (!left.alive || left.id != c.left_id || left.next < 0) continue;
    Sym& right = syms[static_cast<size_t>(left.next)];
    if (right.id != c.right_id) continue;
    left.id = merges_.find(pair_key(c.left_id, c.right_id))->second.second;
    left.end = right.end;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) syms[static_cast<size_t>(right.next)].prev = c.left;
    consider(left.prev);
    consider(c.left);
  }
  for (const auto& sy : syms) {
    if (sy.alive) result.push_back(Piece{sy.id, sy.start, sy.end});
  }
}

}  // namespace ia::tok
