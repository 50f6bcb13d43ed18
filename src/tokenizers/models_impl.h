#pragma once
// Concrete models behind the Model interface (one .cpp each).
#include "tokenizers/model.h"
#include "tokenizers/prefix_trie.h"
#include "tokenizers/vocab.h"
#include "tokenizers/word_cache.h"

namespace ia::tok {

class VocabModel : public Model {
 public:
  std::optional<int32_t> token_to_id(std::string_view token) const override { return vocab_.find(token); }
  std::optional<std::string> id_to_token(int32_t id) const override { return vocab_.token(id); }
  size_t vocab_size() const override { return vocab_.size(); }
  std::vector<std::string_view> tokens() const override { return vocab_.tokens(); }

 protected:
  Vocab vocab_;
};

class WordPiece final : public VocabModel {
 public:
  explicit WordPiece(const nlohmann::json& j);
  void tokenize(std::string_view word, std::vector<Token>& out) const override;

 private:
  void push_unk(std::string_view word, std::vector<Token>& out) const;
  std::string unk_token_, prefix_;
  size_t max_chars_ = 100;
  std::optional<int32_t> unk_id_;
};

class WordLevel final : public VocabModel {
 public:
  explicit WordLevel(const nlohmann::json& j);
  void tokenize(std::string_view word, std::vector<Token>& out) const override;

 private:
  std::string unk_token_;
  std::optional<int32_t> unk_id_;
};

class Bpe final : public VocabModel {
 public:
  explicit Bpe(const nlohmann::json& j);
  void tokenize(std::string_view word, std::vector<Token>& out) const override;

 private:
  struct Piece {
    int32_t id;
    size_t start, end;
  };
  static constexpr size_t kMaxCachedWordBytes = 256;
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void segment(std::string_view word, std::vector<Piece>& result) const;
  // Words repeat a lot in real text, so their segmentation is memoized.
  mutable WordCache<Piece> cache_;
  // (left id, right id) -> (rank, merged id)
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::optional<std::string> unk_token_, prefix_, suffix_;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
};

// SentencePiece's unigram language model: the most likely segmentation of a
// word under per-piece log probabilities (Viterbi), as HF models::unigram
// (its "optimized" encoder; unknown runs fused into one unk, byte fallback).
class Unigram final : public VocabModel {
 public:
  explicit Unigram(const nlohmann::json& j);
  void tokenize(std::string_view word, std::vector<Token>& out) const override;
  size_t vocab_size() const override { return scores_.size(); }

 private:
  std::vector<double> scores_;
  PrefixTrie trie_;
  std::optional<int32_t> unk_id_;
  double min_score_ = 0;
  bool byte_fallback_ = false;
};

}  // namespace ia::tok
