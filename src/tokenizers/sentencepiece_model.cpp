#include "tokenizers/sentencepiece_model.h"

#include <sentencepiece_processor.h>

#include <filesystem>

#include "core/error.h"

namespace ia::tok {

SentencePieceModel::SentencePieceModel(const std::string& path)
    : sp_(std::make_shared<sentencepiece::SentencePieceProcessor>()) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) fail(ErrorKind::NotFound, "'{}' does not exist", path);
  const auto st = sp_->Load(path);
  if (!st.ok()) fail(ErrorKind::Corrupt, "'{}' is not a SentencePiece model: {}", path, st.ToString());
}

void SentencePieceModel::tokenize(std::string_view word, std::vector<Token>& out) const {
  const auto spt = sp_->EncodeAsImmutableProto(std::string(word));
  for (const auto& p : spt.pieces()) {
    // begin/end are byte offsets of the piece's surface in `word`.
    const size_t b = std::min<size_t>(p.begin(), word.size()), e = std::clamp<size_t>(p.end(), b, word.size());
    out.push_back(Token{static_cast<int32_t>(p.id()), p.piece(), {b, e}});
  }
}

std::optional<int32_t> SentencePieceModel::token_to_id(std::string_view token) const {
  const int id = sp_->PieceToId(std::string(token));
  // spm answers unk_id for unknown pieces; only the unk piece itself maps there.
  if (id == sp_->unk_id() && sp_->IdToPiece(id) != token) return std::nullopt;
  return id;
}

std::optional<std::string> SentencePieceModel::id_to_token(int32_t id) const {
  if (id < 0 || id >= sp_->GetPieceSize()) return std::nullopt;
  return sp_->IdToPiece(id);
}

size_t SentencePieceModel::vocab_size() const {
  return static_cast<size_t>(sp_->GetPieceSize());
}

std::vector<std::string_view> SentencePieceModel::tokens() const {
  std::vector<std::string_view> out;
  out.reserve(vocab_size());
  for (int i = 0; i < sp_->GetPieceSize(); ++i) out.emplace_back(sp_->IdToPiece(i));
  return out;
}

void SentencePieceDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::string text;
  std::vector<std::string> run;
  auto flush = [&] {
    if (run.empty()) return;
    text += sp_->DecodePieces(run);
    run.clear();
  };
  for (auto& t : tokens) {
    if (verbatim_.count(t)) {
      flush();
      text += t;
    } else {
      run.push_back(std::move(t));
    }
  }
  flush();
  tokens.assign(1, std::move(text));
}

}  // namespace ia::tok
