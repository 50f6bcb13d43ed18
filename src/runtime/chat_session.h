#pragma once
// A conversation whose KV cache outlives a turn (prefix reuse, as llama.cpp and
// Ollama do). Each turn passes the whole conversation, rendered through the
// chat template and tokenized as for a fresh run; the session knows which ids
// its cache sequence holds (the previous prompt and the reply tokens that were
// fed to the model), truncates the sequence to the longest common prefix with
// the new prompt and prefills only the rest, so a turn costs the new message
// (plus the previous reply), not the whole history. A conversation edited in the
// middle simply shares a shorter prefix. The result is what
// Generator::generate_ids gives for the same prompt.
#include <cstdint>
#include <memory>
#include <vector>

#include "models/kv_cache.h"
#include "runtime/generation.h"

namespace ia {

class ChatSession {
 public:
  // The cache starts with room for `initial_tokens` and grows as the conversation does.
  explicit ChatSession(std::shared_ptr<const Generator> generator, int64_t initial_tokens = 256);
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  // One turn: `prompt` is the whole conversation's token ids. stats->cached_tokens
  // tells how many prompt tokens came from the cache. On an error the cache is
  // dropped (the next turn prefills everything). A vision-language conversation passes the
  // features of every image in it (`images`, positions in `prompt`); its image tokens are then
  // compared with the cached ones by their images' content.
  GenerationResult turn(std::vector<int32_t> prompt, const GenerationRequest& req, const StreamCallback& on_text = {},
                        GenerationStats* stats = nullptr, std::shared_ptr<const PromptImages> images = nullptr);

  // Forgets the cached tokens; the cache's memory is kept for the next turn.
  void reset();

  // The ids whose K/V the cache holds, in order (prompt, then fed reply tokens); an image token as
  // its content key (PromptImages::cache_keys).
  const std::vector<int32_t>& cached_ids() const { return ids_; }
  // Null before the first turn.
  const KvCache* cache() const { return cache_.get(); }
  const Generator& generator() const { return *gen_; }

 private:
  // Makes the cache hold at least `tokens` tokens of the sequence (it grows, keeping its contents).
  void reserve(int64_t tokens);

  std::shared_ptr<const Generator> gen_;
  std::unique_ptr<KvCache> cache_;
  int64_t seq_ = -1;
  int64_t initial_tokens_;
  std::vector<int32_t> ids_;  // always cache_->length(seq_) long
};

}  // namespace ia
