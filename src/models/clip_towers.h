#pragma once
// The parts CLIP and X-CLIP share (X-CLIP's towers are CLIP's, "Copied from ... CLIP" in
// transformers): the text tower — token + learned position embeddings, causal pre-norm Blocks,
// final LayerNorm, pooled at one row per text — and the reading of a CLIP-style vision_config into
// a VisionTowerConfig, with the block weight names both checkpoints use.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/layers/block.h"
#include "models/layers/weight_source.h"
#include "models/vision_tower.h"

namespace ia {

// encoder.layers.N.{layer_norm1, self_attn.{q,k,v,out}_proj, layer_norm2, mlp.fc1, mlp.fc2}
inline constexpr BlockWeightNames kClipBlockNames = {
    "encoder.layers.{}.",
    "layer_norm1",
    {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", nullptr, "self_attn.out_proj", nullptr, nullptr},
    nullptr,
    {},
    "layer_norm2",
    {nullptr, "mlp.fc1", "mlp.fc2"}};

// An integer of a config within [1, hi]; Corrupt naming the file and key otherwise.
int64_t clip_config_int(const HfConfig& c, const std::string& key, int64_t def, int64_t hi);
// A sub-config (text_config, vision_config), or an empty one: every key then takes its default.
HfConfig clip_sub_config(const HfConfig& c, const std::string& key);
// A CLIPVisionConfig-shaped vision_config (CLIP's defaults: ViT-B/32) as the tower's settings.
VisionTowerConfig clip_vision_config(const HfConfig& vc);

// exp(logit_scale) of a checkpoint (the one-value tensor "logit_scale"); Corrupt when it is not one
// finite value.
float load_logit_scale(const WeightStore& weights);

// Where a text is pooled.
enum class TextPooling {
  // CLIPTextTransformer: the first eos_token_id, or with the legacy eos_token_id 2 the largest id
  // (the end-of-text token had the highest id in OpenAI's vocabulary); 0 when no token matches.
  FirstEosOrLegacyArgmax,
  // XCLIPTextTransformer: always the largest id (input_ids.argmax), its first occurrence.
  Argmax,
};

class ClipTextTower {
 public:
  ClipTextTower() = default;
  // `tc` is the text_config; the weights are under `w`'s prefix ("text_model.").
  static ClipTextTower load(const WeightSource& w, const HfConfig& tc, TextPooling pooling);

  int64_t hidden() const { return hidden_; }
  int64_t vocab_size() const { return vocab_; }
  int64_t max_positions() const { return max_positions_; }
  int64_t pooled_position(std::span<const int32_t> ids) const;
  // The final-normed row of each text where it pools: [S, hidden] f32 on the device. `step` packs
  // the S texts (StepBuilder::encoder_step); `ids` are the same ids on the host.
  Tensor pooled(const StepInputs& step, const std::vector<std::span<const int32_t>>& ids) const;

 private:
  Tensor token_emb_, pos_emb_;
  std::vector<Block> blocks_;
  Norm final_norm_;
  TextPooling pooling_ = TextPooling::FirstEosOrLegacyArgmax;
  int64_t eos_token_id_ = 2;
  int64_t vocab_ = 0, max_positions_ = 0, hidden_ = 0;
  bool bf16_ = false;
  Device device_;
};

}  // namespace ia
