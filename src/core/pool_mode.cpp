#include "core/pool_mode.h"

namespace ia {

namespace {
constexpr std::pair<PoolMode, const char*> kNames[] = {
    {PoolMode::Cls, "cls"},
    {PoolMode::Mean, "mean"},
    {PoolMode::Max, "max"},
    {PoolMode::MeanSqrtLen, "mean_sqrt_len"},
    {PoolMode::LastToken, "lasttoken"},
    {PoolMode::WeightedMean, "weightedmean"},
};
}  // namespace

const char* pool_mode_name(PoolMode mode) {
  for (const auto& [m, name] : kNames)
    if (m == mode) return name;
  return "mean";
}

std::optional<PoolMode> pool_mode_from_name(const std::string& name) {
  for (const auto& [m, n] : kNames)
    if (name == n) return m;
  return std::nullopt;
}

}  // namespace ia
