#include "runtime/next_token_comparison.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "core/error.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

// log-softmax of one row of logits, in double.
void log_probs(const float* logits, int64_t V, std::vector<double>& out) {
  out.resize(static_cast<size_t>(V));
  double mx = -INFINITY;
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(logits[v]));
  double sum = 0;
  for (int64_t v = 0; v < V; ++v) sum += std::exp(static_cast<double>(logits[v]) - mx);
  const double lse = mx + std::log(sum);
  for (int64_t v = 0; v < V; ++v) out[static_cast<size_t>(v)] = static_cast<double>(logits[v]) - lse;
}

int64_t argmax(const float* p, int64_t V) {
  int64_t best = 0;
  for (int64_t v = 1; v < V; ++v)
    if (p[v] > p[best]) best = v;
  return best;
}

Tensor window_logits(const CausalLM& model, std::span<const int32_t> ids, DType kv_cache_dtype) {
  auto cache = model.make_cache((static_cast<int64_t>(ids.size()) + 15) / 16, 16, kv_cache_dtype);
  const int64_t seq = cache->create_sequence();
  return CausalStepRunner(model).step({SeqChunk{seq, ids}}, *cache, OutputRows::All);
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<size_t>(
      std::min<double>(static_cast<double>(v.size()) - 1, q * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

NextTokenComparison compare_next_tokens(const CausalLM& base, const CausalLM& model, std::span<const int32_t> ids,
                                        int64_t window, DType model_kv_cache_dtype) {
  if (ids.size() < 2)
    fail(ErrorKind::InvalidArgument, "kl-divergence: the text must hold at least 2 tokens, got {}", ids.size());
  const int64_t context = std::min(base.config().max_positions, model.config().max_positions);
  if (window < 2 || window > context)
    fail(ErrorKind::InvalidArgument, "kl-divergence: the window must be 2..{} tokens (the models' context), got {}",
         context, window);
  if (base.config().vocab_size != model.config().vocab_size)
    fail(ErrorKind::InvalidArgument, "kl-divergence: the models' vocabularies differ ({} and {} tokens)",
         base.config().vocab_size, model.config().vocab_size);
  NextTokenComparison r;
  std::vector<double> kls;
  std::vector<double> lp, lq;
  double nll_base = 0, nll_model = 0;
  int64_t agree = 0;
  for (size_t start = 0; start + 1 < ids.size(); start += static_cast<size_t>(window)) {
    const size_t n = std::min(ids.size() - start, static_cast<size_t>(window));
    if (n < 2) break;
    std::span<const int32_t> w = ids.subspan(start, n);
    const Tensor pb = window_logits(base, w, DType::F32), pm = window_logits(model, w, model_kv_cache_dtype);
    const int64_t V = pb.size(1);
    IA_CHECK(pm.size(1) == V && pb.size(0) == static_cast<int64_t>(n), "kl-divergence: logits {} and {}", pb.describe(),
             pm.describe());
    ++r.windows;
    for (size_t t = 0; t + 1 < n; ++t) {  // position t predicts token t + 1
      const float* a = pb.data<float>() + static_cast<int64_t>(t) * V;
      const float* b = pm.data<float>() + static_cast<int64_t>(t) * V;
      log_probs(a, V, lp);
      log_probs(b, V, lq);
      double kl = 0;
      for (int64_t v = 0; v < V; ++v) {
        const double p = std::exp(lp[static_cast<size_t>(v)]);
        if (p > 0) kl += p * (lp[static_cast<size_t>(v)] - lq[static_cast<size_t>(v)]);
      }
      kls.push_back(std::max(kl, 0.0));  // rounding may leave a tiny negative
      agree += argmax(a, V) == argmax(b, V);
      const auto next = static_cast<size_t>(w[t + 1]);
      nll_base -= lp[next];
      nll_model -= lq[next];
    }
  }
  r.positions = static_cast<int64_t>(kls.size());
  double sum = 0;
  for (double k : kls) sum += k;
  r.kl_mean = sum / static_cast<double>(r.positions);
  r.kl_max = *std::max_element(kls.begin(), kls.end());
  r.kl_median = quantile(kls, 0.5);
  r.kl_p99 = quantile(kls, 0.99);
  r.top1_agreement = static_cast<double>(agree) / static_cast<double>(r.positions);
  r.base_perplexity = std::exp(nll_base / static_cast<double>(r.positions));
  r.perplexity = std::exp(nll_model / static_cast<double>(r.positions));
  return r;
}

}  // namespace ia
