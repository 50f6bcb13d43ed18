#include "models/activation_names.h"

#include "core/error.h"

namespace ia {

Activation parse_activation(const std::string& name, const std::string& where) {
  if (name == "gelu") return Activation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh" || name == "gelu_fast") return Activation::GeluTanh;
  if (name == "relu") return Activation::Relu;
  if (name == "silu" || name == "swish") return Activation::Silu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "quick_gelu") return Activation::QuickGelu;
  fail(ErrorKind::Unsupported, "{}: activation \"{}\" is not supported (gelu, gelu_new, relu, silu, tanh, quick_gelu)",
       where, name);
}

}  // namespace ia
