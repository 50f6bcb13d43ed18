// BPE: split a word into chars, then apply merges by rank (lowest first,
// leftmost on ties), as HF models::bpe does without dropout.
#include <limits>

#include "tokenizers/json_util.h"
#include "tokenizers/models_impl.h"

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
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(*ia_)) << 32) | static_cast<uint32_t>(*ib);
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
  struct Sym {
    int32_t id;
    size_t start, end;
  };
  thread_local std::vector<Sym> syms;
  thread_local std::string piece;
  syms.clear();
  std::optional<Sym> unk;
  auto flush_unk = [&] {
    if (unk) syms.push_back(*unk);
    unk.reset();
  };
  for (size_t i = 0; i < word.size();) {
    size_t end = i + 1;
    while (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) ++end;
    piece.clear();
    if (i > 0 && prefix_) piece += *prefix_;
    piece.append(word.substr(i, end - i));
    if (end == word.size() && suffix_) piece += *suffix_;
    if (auto id = vocab_.find(piece)) {
      flush_unk();
      syms.push_back(Sym{*id, i, end});
    } else {
      bool done = false;
      if (byte_fallback_) {
        // Every byte must have its <0xNN> token, else fall through to unk.
        std::vector<int32_t> ids;
        for (size_t k = i; k < end; ++k) {
          const std::string code = fmt::format("<0x{:02X}>", static_cast<unsigned char>(word[k]));
          auto id = vocab_.find(code);
          if (!id) {
            ids.clear();
            break;
          }
          ids.push_back(*id);
        }
        if (!ids.empty()) {
          flush_unk();
          for (size_t k = 0; k < ids.size(); ++k) syms.push_back(Sym{ids[k], i + k, i + k + 1});
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
          unk = Sym{*unk_id_, i, end};
        }
      }
    }
    i = end;
  }
  flush_unk();
  // Merge the lowest-ranked adjacent pair until none applies.
  while (syms.size() > 1) {
    int32_t best_rank = std::numeric_limits<int32_t>::max();
    size_t best = 0;
    int32_t best_id = 0;
    for (size_t k = 0; k + 1 < syms.size(); ++k) {
      const uint64_t key =
          (static_cast<uint64_t>(static_cast<uint32_t>(syms[k].id)) << 32) | static_cast<uint32_t>(syms[k + 1].id);
      auto it = merges_.find(key);
      if (it != merges_.end() && it->second.first < best_rank) {
        best_rank = it->second.first;
        best = k;
        best_id = it->second.second;
      }
    }
    if (best_rank == std::numeric_limits<int32_t>::max()) break;
    syms[best].id = best_id;
    syms[best].end = syms[best + 1].end;
    syms.erase(syms.begin() + static_cast<std::ptrdiff_t>(best + 1));
  }
  for (const auto& s : syms) {
    out.push_back(Token{s.id, vocab_.token(s.id).value_or(std::string()), {s.start, s.end}});
  }
}

}  // namespace ia::tok
