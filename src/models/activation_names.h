#pragma once
// The activation a config.json names (hidden_act, activation_function, ...),
// as transformers' ACT2FN maps them; one parser for every family.
#include <string>

#include "backends/backend.h"

namespace ia {

// Unsupported naming `where` and the value when this build has no such activation.
Activation parse_activation(const std::string& name, const std::string& where);

}  // namespace ia
