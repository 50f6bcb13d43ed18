#include "models/rope.h"

#include <algorithm>
#include <cmath>

namespace ia {

namespace {

// 1 / base^(2i / dim) in f32, as torch computes it.
std::vector<float> base_inv_freq(double base, int64_t dim) {
  std::vector<float> f(static_cast<size_t>(dim / 2));
  for (int64_t i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    f[static_cast<size_t>(i)] = 1.0f / std::pow(static_cast<float>(base), e);
  }
  return f;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

RopeFrequencies rope_frequencies(const RopeConfig& r, int64_t max_positions, int64_t seq_len) {
  const int64_t dim = r.rotary_dim;
  RopeFrequencies out;
  if (r.type == RopeType::Default) {
    out.inv_freq = base_inv_freq(r.theta, dim);
  } else if (r.type == RopeType::Linear) {
    out.inv_freq = base_inv_freq(r.theta, dim);
    for (float& f : out.inv_freq) f = static_cast<float>(f / r.factor);
  } else if (r.type == RopeType::Dynamic) {
    // NTK-aware: the base grows once the sequence passes the trained length.
    double base = r.theta;
    if (seq_len > max_positions) {
      const double s = static_cast<double>(seq_len);
      base = r.theta * std::pow(r.factor * s / static_cast<double>(max_positions) - (r.factor - 1),
                                static_cast<double>(dim) / static_cast<double>(dim - 2));
    }
    out.inv_freq = base_inv_freq(base, dim);
  } else if (r.type == RopeType::Llama3) {
    out.inv_freq = base_inv_freq(r.theta, dim);
    const double old_ctx = static_cast<double>(r.original_max_positions);
    const double low_wavelen = old_ctx / r.low_freq_factor, high_wavelen = old_ctx / r.high_freq_factor;
    for (float& f : out.inv_freq) {
      const double wavelen = 2 * M_PI / f;
      if (wavelen > low_wavelen) {
        f = static_cast<float>(f / r.factor);
      } else if (wavelen >= high_wavelen) {
        const double smooth = (old_ctx / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        f = static_cast<float>((1 - smooth) * f / r.factor + smooth * f);
      }
    }
  } else if (r.type == RopeType::Yarn) {
    // transformers >= 5 uses the explicit factor (only a missing one becomes
    // max_position_embeddings / original_max_position_embeddings, in
    // decoder_config.cpp); older 4.x releases took the ratio whenever an original length was
    // given, which turns e.g. Qwen2.5's {factor 4, original 32768} at
    // max_position_embeddings 32768 into no scaling at all.
    const double factor = r.factor;
    const int64_t orig = r.original_max_positions;
    double att;
    if (r.attention_factor) {
      att = *r.attention_factor;
    } else if (r.mscale && r.mscale_all_dim && *r.mscale != 0 && *r.mscale_all_dim != 0) {
      att = yarn_mscale(factor, *r.mscale) / yarn_mscale(factor, *r.mscale_all_dim);
    } else {
      att = yarn_mscale(factor, 1.0);
    }
    auto correction_dim = [&](double rotations) {
      return static_cast<double>(dim) * std::log(static_cast<double>(orig) / (rotations * 2 * M_PI)) /
             (2 * std::log(r.theta));
    };
    double low = correction_dim(r.beta_fast), high = correction_dim(r.beta_slow);
    if (r.truncate) low = std::floor(low), high = std::ceil(high);
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    std::vector<float> extra = base_inv_freq(r.theta, dim);
    out.inv_freq.resize(extra.size());
    for (size_t i = 0; i < extra.size(); ++i) {
      const float pos_freq = 1.0f / extra[i];
      const float inter = 1.0f / (static_cast<float>(factor) * pos_freq);
      const float ramp = std::clamp(static_cast<float>((static_cast<double>(i) - low) / (high - low)), 0.0f, 1.0f);
      const float extrap_factor = 1.0f - ramp;
      out.inv_freq[i] = inter * (1 - extrap_factor) + extra[i] * extrap_factor;
    }
    out.attention_scaling = static_cast<float>(att);
  }
  return out;
}

void rope_row(const RopeFrequencies& f, int64_t position, float* cos, float* sin) {
  const size_t half = f.inv_freq.size();
  for (size_t i = 0; i < half; ++i) {
    const float freq = f.inv_freq[i] * static_cast<float>(position);
    cos[i] = static_cast<float>(std::cos(static_cast<double>(freq))) * f.attention_scaling;
    sin[i] = static_cast<float>(std::sin(static_cast<double>(freq))) * f.attention_scaling;
  }
}

void rope_tables(const RopeFrequencies& f, int64_t positions, Tensor& cos, Tensor& sin) {
  const int64_t half = static_cast<int64_t>(f.inv_freq.size());
  cos = Tensor::empty({positions, half}, DType::F32);
  sin = Tensor::empty({positions, half}, DType::F32);
  for (int64_t p = 0; p < positions; ++p) rope_row(f, p, cos.data<float>() + p * half, sin.data<float>() + p * half);
}

}  // namespace ia
