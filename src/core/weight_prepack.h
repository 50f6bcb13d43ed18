#pragma once
// Whether backends keep a reordered copy of weights for many-row products (oneDNN's blocked
// layout, the AMX tile layout). The copy pays off when the same weights serve many prompts
// or batches (embeddings, chat, a server); a one-shot `generate` runs its prompt once, and
// there the reorder costs more time than it saves and keeps the weights resident twice.
// On by default; IA_CPU_PREPACK=0 or 1 in the environment fixes it either way.

namespace ia {

bool weight_prepack_enabled();
// Ignored when IA_CPU_PREPACK is set (the user's choice wins).
void set_weight_prepack(bool on);

}  // namespace ia
