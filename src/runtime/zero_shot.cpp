#include "runtime/zero_shot.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace ia {

std::vector<std::vector<float>> softmax_rows(const std::vector<std::vector<float>>& logits) {
  std::vector<std::vector<float>> out;
  out.reserve(logits.size());
  for (const auto& row : logits) {
    float mx = -INFINITY;
    for (float x : row) mx = std::max(mx, x);
    double sum = 0;
    for (float x : row) sum += std::exp(static_cast<double>(x) - mx);
    std::vector<float> probs;
    probs.reserve(row.size());
    for (float x : row) probs.push_back(static_cast<float>(std::exp(static_cast<double>(x) - mx) / sum));
    out.push_back(std::move(probs));
  }
  return out;
}

std::vector<ZeroShotLabel> rank_zero_shot_labels(const std::vector<float>& scores,
                                                 const std::vector<std::string>& labels) {
  if (scores.size() != labels.size())
    fail(ErrorKind::InvalidArgument, "{} scores for {} labels", scores.size(), labels.size());
  std::vector<ZeroShotLabel> out;
  out.reserve(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) out.push_back({labels[i], scores[i]});
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.score > b.score; });
  return out;
}

}  // namespace ia
