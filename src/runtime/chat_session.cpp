#include "runtime/chat_session.h"

#include <algorithm>

#include "core/error.h"

namespace ia {

namespace {
constexpr int64_t kBlockSize = 16;
}  // namespace

ChatSession::ChatSession(std::shared_ptr<const Generator> generator, int64_t initial_tokens)
    : gen_(std::move(generator)), initial_tokens_(std::max<int64_t>(1, initial_tokens)) {
  IA_CHECK(gen_ != nullptr, "chat session: no generator");
}

void ChatSession::reset() {
  if (cache_) cache_->truncate(seq_, 0);
  ids_.clear();
}

void ChatSession::reserve(int64_t tokens) {
  const int64_t ctx_blocks = (gen_->model().config().max_positions + kBlockSize - 1) / kBlockSize;
  const int64_t need = (tokens + kBlockSize - 1) / kBlockSize;
  if (!cache_) {
    const int64_t initial = (initial_tokens_ + kBlockSize - 1) / kBlockSize;
    cache_ = gen_->make_cache(std::max(need, std::min(initial, ctx_blocks)), kBlockSize);
    seq_ = cache_->create_sequence();
    return;
  }
  // Doubling keeps the copies of a growing conversation linear in its length.
  if (need > cache_->num_blocks()) cache_->grow(std::max(need, std::min(2 * cache_->num_blocks(), ctx_blocks)));
}

GenerationResult ChatSession::turn(std::vector<int32_t> prompt, const GenerationRequest& req,
                                   const StreamCallback& on_text, GenerationStats* stats,
                                   std::shared_ptr<const PromptImages> images) {
  // Bad requests and prompts fail here, before the cache changes.
  gen_->resolve(req);
  PreparedPrompt p = gen_->prepare(std::move(prompt), req, std::move(images));
  // Image tokens compare by their images' content (one id stands for every image).
  const std::vector<int32_t> keys = p.images ? p.images->cache_keys(p.ids) : p.ids;
  size_t common = 0;
  const size_t limit = std::min(ids_.size(), keys.size());
  while (common < limit && ids_[common] == keys[common]) ++common;
  // At least the prompt's last token runs, so that its logits exist.
  if (common == p.ids.size()) --common;

  try {
    reserve(static_cast<int64_t>(p.ids.size()) + p.max_new);
    cache_->truncate(seq_, static_cast<int64_t>(common));
    ids_.resize(common);
    GenerationResult r = gen_->generate_in(*cache_, seq_, p, req, on_text, stats);
    // The cache now holds the prompt and every generated token but the last.
    ids_ = keys;
    ids_.insert(ids_.end(), r.ids.begin(), r.ids.end());
    IA_CHECK(static_cast<int64_t>(ids_.size()) >= cache_->length(seq_), "chat session: cache holds {} of {} tokens",
             cache_->length(seq_), ids_.size());
    ids_.resize(static_cast<size_t>(cache_->length(seq_)));
    return r;
  } catch (...) {
    // A forward that failed half way leaves the sequence's K/V undefined.
    if (cache_) cache_->truncate(seq_, 0);
    ids_.clear();
    throw;
  }
}

}  // namespace ia
