#pragma once
// Zero-shot classification scores from a two-tower model's logits (CLIP's logits_per_image,
// X-CLIP's logits_per_video, CLAP's logits_per_audio): each row's softmax over the candidate
// texts, and the labels ranked by it, as transformers' zero-shot-image-classification pipeline
// gives them (`logits.softmax(dim=-1)`, then `sorted(zip(scores, labels), key=lambda x: -x[0])`:
// highest first, ties in the labels' order).
#include <string>
#include <vector>

namespace ia {

// Each row's softmax, the sum taken in double after subtracting the row's largest logit.
std::vector<std::vector<float>> softmax_rows(const std::vector<std::vector<float>>& logits);

struct ZeroShotLabel {
  std::string label;
  float score = 0;
};

// `labels[i]` with `scores[i]`, highest score first (stable). InvalidArgument unless the sizes match.
std::vector<ZeroShotLabel> rank_zero_shot_labels(const std::vector<float>& scores,
                                                 const std::vector<std::string>& labels);

}  // namespace ia
