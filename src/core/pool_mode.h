#pragma once
// How token vectors become one sentence vector: the modes of
// sentence-transformers' Pooling module, one enum from the folder's config
// through the endpoint to the backend's pooling op.
#include <optional>
#include <string>

namespace ia {

enum class PoolMode { Cls, Mean, Max, MeanSqrtLen, LastToken, WeightedMean };

// "cls", "mean", "max", "mean_sqrt_len", "lasttoken", "weightedmean"
const char* pool_mode_name(PoolMode mode);
// The mode a name means (as pool_mode_name writes it); nullopt for any other name.
std::optional<PoolMode> pool_mode_from_name(const std::string& name);

}  // namespace ia
