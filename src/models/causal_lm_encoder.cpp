#include "models/causal_lm_encoder.h"

#include "core/error.h"

namespace ia {

CausalLmEncoder::CausalLmEncoder(std::unique_ptr<CausalLM> lm) : lm_(std::move(lm)) {
  IA_CHECK(lm_ != nullptr, "CausalLmEncoder: no model");
}

EncoderOutput CausalLmEncoder::forward(const StepInputs& step) const {
  StepInputs s = step;  // tensors are shared, not copied
  s.output = StepOutput::HiddenStates;
  s.output_rows = Tensor();  // every row: pooling chooses
  EncoderOutput out;
  out.last_hidden_state = lm_->forward_prompt(s);
  return out;
}

}  // namespace ia
