// Unigram model: Viterbi over the lattice of vocabulary pieces, the way HF's
// Unigram::encode_optimized walks it (best path per end position, unknown
// chars scored min_score - 10 and fused, byte fallback when asked).
#include <cmath>
#include <cstdio>

#include "tokenizers/json_util.h"
#include "tokenizers/models_impl.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

namespace {
constexpr double kUnkPenalty = 10.0;

size_t utf8_char_len(std::string_view s, size_t i) {
  size_t end = i + 1;
  while (end < s.size() && uni::is_utf8_continuation(s[end])) ++end;
  return end - i;
}
}  // namespace

Unigram::Unigram(const nlohmann::json& j) {
  const std::string what = "model Unigram";
  const auto& vocab = js::array(j, "vocab", what);
  std::vector<std::string> tokens;
  tokens.reserve(vocab.size());
  scores_.reserve(vocab.size());
  min_score_ = INFINITY;
  for (const auto& e : vocab) {
    if (!e.is_array() || e.size() != 2 || !e[0].is_string() || !e[1].is_number()) {
      fail(ErrorKind::Corrupt, "{}: each vocab entry must be [token, score]", what);
    }
    tokens.push_back(e[0].get<std::string>());
    const double score = e[1].get<double>();
    if (!std::isfinite(score)) fail(ErrorKind::Corrupt, "{}: score of '{}' is not finite", what, tokens.back());
    scores_.push_back(score);
    min_score_ = std::min(min_score_, score);
  }
  if (tokens.size() > static_cast<size_t>(INT32_MAX)) fail(ErrorKind::Corrupt, "{}: vocabulary too large", what);
  if (const auto* u = js::opt(j, "unk_id")) {
    const int32_t id = js::token_id(*u, what, "unk_id");
    if (tokens.empty()) fail(ErrorKind::Corrupt, "{}: unk_id given but the vocabulary is empty", what);
    if (static_cast<size_t>(id) >= tokens.size())
      fail(ErrorKind::Corrupt, "{}: unk_id {} is not in the vocabulary", what, id);
    unk_id_ = id;
  }
  byte_fallback_ = js::boolean_or(j, "byte_fallback", what, false);
  std::vector<std::pair<std::string_view, int32_t>> entries;
  entries.reserve(tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) entries.emplace_back(tokens[i], static_cast<int32_t>(i));
  trie_.build(entries);
  vocab_ = Vocab::from_list(std::move(tokens));
}

void Unigram::tokenize(std::string_view word, std::vector<Token>& out) const {
  if (word.empty()) return;
  struct Node {
    int32_t id = -1;
    double score = 0;
    int64_t start = -1;  // -1: no path reaches this position yet
  };
  thread_local std::vector<Node> best;
  best.assign(word.size() + 1, Node{});
  const double unk_score = min_score_ - kUnkPenalty;
  for (size_t pos = 0; pos < word.size();) {
    const double base = best[pos].score;
    const size_t char_len = utf8_char_len(word, pos);
    bool single_char_piece = false;
    trie_.for_each_prefix(word, pos, [&](size_t len, int32_t id) {
      Node& target = best[pos + len];
      const double cand = base + scores_[static_cast<size_t>(id)];
      if (target.start < 0 || cand > target.score) target = Node{id, cand, static_cast<int64_t>(pos)};
      if (len == char_len) single_char_piece = true;
    });
    if (!single_char_piece) {
      Node& target = best[pos + char_len];
      const double cand = base + unk_score;
      if (target.start < 0 || cand > target.score) {
        if (!unk_id_)
          fail(ErrorKind::InvalidArgument, "Unigram: a character is not in the vocabulary and the model has no unk_id");
        target = Node{*unk_id_, cand, static_cast<int64_t>(pos)};
      }
    }
    pos += char_len;
  }
  // Walk back from the end; consecutive unknown pieces become one.
  struct Piece {
    size_t start, end;
    bool unk;
  };
  thread_local std::vector<Piece> pieces;
  pieces.clear();
  for (size_t end = word.size(); end > 0;) {
    const Node& n = best[end];
    const auto start = static_cast<size_t>(n.start);
    const bool unk = unk_id_ && n.id == *unk_id_;
    if (unk && !pieces.empty() && pieces.back().unk) {
      pieces.back().start = start;
    } else {
      pieces.push_back(Piece{start, end, unk});
    }
    end = start;
  }
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
    const std::string_view piece = word.substr(it->start, it->end - it->start);
    const Offsets offsets{it->start, it->end};
    if (auto id = vocab_.find(piece)) {
      out.push_back(Token{*id, std::string(piece), offsets});
      continue;
    }
    if (byte_fallback_) {
      // Every byte needs its <0xNN> piece, else the whole piece is unk.
      const size_t mark = out.size();
      bool ok = true;
      char code[8];
      for (unsigned char b : piece) {
        std::snprintf(code, sizeof code, "<0x%02X>", b);
        auto id = vocab_.find(code);
        if (!id) {
          ok = false;
          break;
        }
        out.push_back(Token{*id, code, offsets});
      }
      if (ok) continue;
      out.resize(mark);
    }
    if (!unk_id_) fail(ErrorKind::InvalidArgument, "Unigram: piece has no id and the model has no unk_id");
    // HF keeps the text of the unknown piece as the token string.
    out.push_back(Token{*unk_id_, std::string(piece), offsets});
  }
}

}  // namespace ia::tok
