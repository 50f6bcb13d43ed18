#include "runtime/step_runner.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

namespace {
bool sample_on_device_allowed() {
  const char* env = std::getenv("IA_SAMPLE_ON_DEVICE");
  return !(env && std::strcmp(env, "0") == 0);
}
}  // namespace

CausalStepRunner::CausalStepRunner(const CausalLM& model)
    : model_(model), builder_(model.device()), recorded_(model), sample_on_device_(sample_on_device_allowed()) {}

std::vector<Tensor> CausalStepRunner::device_step(const std::vector<SeqChunk>& chunks, KvCache& cache, OutputRows rows,
                                                  const StepResult& result) {
  const bool decode = recorded_.enabled() &&
                      std::all_of(chunks.begin(), chunks.end(), [](const SeqChunk& c) { return c.tokens.size() == 1; });
  int64_t width = 0;
  if (decode) {
    int64_t blocks = 1;
    for (const auto& c : chunks)
      if (cache.has(c.seq)) blocks = std::max(blocks, cache.blocks_for(cache.length(c.seq) + 1));
    width = RecordedSteps::table_width(blocks);
  }
  KvCache::Reservation reservation;
  StepInputs st = builder_.causal_step(chunks, cache, model_.config().vocab_size, rows, reservation, width, cross_);
  try {
    if (decode && model_.replayable(st)) return recorded_.run(st, builder_.packed(), cache, result);
    return step_outputs(model_.forward(st, cache), result);
  } catch (...) {
    cache.rollback(reservation);
    throw;
  }
}

Tensor CausalStepRunner::step(const std::vector<SeqChunk>& chunks, KvCache& cache, OutputRows rows) {
  return ops::to_device(device_step(chunks, cache, rows, StepResult{StepResult::Logits})[0], Device::cpu());
}

std::vector<int32_t> CausalStepRunner::step_greedy(const std::vector<SeqChunk>& chunks, KvCache& cache) {
  Tensor ids = ops::to_device(
      device_step(chunks, cache, OutputRows::LastOfEachSequence, StepResult{StepResult::GreedyIds})[0], Device::cpu());
  return std::vector<int32_t>(ids.data<int32_t>(), ids.data<int32_t>() + ids.numel());
}

CausalStepRunner::Candidates CausalStepRunner::step_top_k(const std::vector<SeqChunk>& chunks, KvCache& cache,
                                                          int64_t k) {
  std::vector<Tensor> out = device_step(chunks, cache, OutputRows::LastOfEachSequence, StepResult{StepResult::TopK, k});
  Candidates c;
  c.device_logits = out[0];
  c.values = ops::to_device(out[1], Device::cpu());
  c.ids = ops::to_device(out[2], Device::cpu());
  return c;
}

std::vector<SampledToken> CausalStepRunner::step_and_sample(const std::vector<SeqChunk>& chunks, KvCache& cache,
                                                            const std::vector<RowSampler>& rows) {
  IA_CHECK(rows.size() == chunks.size(), "step: {} samplers for {} chunks", rows.size(), chunks.size());
  const bool on_device = sample_on_device_;
  const int64_t V = model_.config().vocab_size;
  bool all_argmax = on_device;
  int64_t k = on_device ? 0 : -1;  // -1: some row needs its whole logits
  for (const RowSampler& r : rows) {
    if (!r.sampler) continue;
    all_argmax = all_argmax && r.sampler->argmax_only();
    const int64_t need = r.sampler->candidates_needed(V);
    k = k < 0 || need == 0 ? -1 : std::max(k, need);  // more candidates than a sampler needs draw the same
  }
  std::vector<SampledToken> out(rows.size());
  if (all_argmax) {
    const std::vector<int32_t> ids = step_greedy(chunks, cache);
    for (size_t i = 0; i < rows.size(); ++i) out[i].id = ids[i];
    return out;
  }
  if (k > 0) {
    const Candidates c = step_top_k(chunks, cache, k);
    for (size_t i = 0; i < rows.size(); ++i) {
      const RowSampler& r = rows[i];
      if (!r.sampler) continue;
      const auto at = static_cast<int64_t>(i) * k;
      if (auto id = r.sampler->sample_candidates(c.values.data<float>() + at, c.ids.data<int32_t>() + at, k, V)) {
        out[i].id = *id;
      } else {  // a tie at the top-k cut reaches past the candidates: this row's whole logits
        const Tensor whole = ops::to_device(c.device_logits.narrow(0, static_cast<int64_t>(i), 1), Device::cpu());
        out[i] = r.sampler->sample(whole.data<float>(), V, *r.prompt, *r.generated);
      }
    }
    return out;
  }
  const Tensor logits = step(chunks, cache);
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].sampler)
      out[i] = rows[i].sampler->sample(logits.data<float>() + static_cast<int64_t>(i) * V, V, *rows[i].prompt,
                                       *rows[i].generated);
  return out;
}

EncoderOutput encode_padded(const Encoder& encoder, const Tensor& input_ids, const Tensor& attention_mask,
                            const Tensor* token_type_ids) {
  IA_CHECK(input_ids.dim() == 2 && attention_mask.shape() == input_ids.shape(), "encoder: ids {} mask {}",
           input_ids.describe(), attention_mask.describe());
  const int64_t B = input_ids.size(0), S = input_ids.size(1);
  Tensor ids = input_ids.contiguous(), mask = attention_mask.contiguous();
  Tensor types = token_type_ids ? token_type_ids->contiguous() : Tensor();
  std::vector<std::vector<int32_t>> seq_ids(static_cast<size_t>(B)), seq_types;
  if (types.defined()) seq_types.resize(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = 0;
    while (n < S && mask.data<int64_t>()[b * S + n]) ++n;
    for (int64_t s = n; s < S; ++s)
      if (mask.data<int64_t>()[b * S + s])
        fail(ErrorKind::InvalidArgument, "encoder: row {} of the attention mask is not right-padded", b);
    for (int64_t s = 0; s < n; ++s) {
      seq_ids[static_cast<size_t>(b)].push_back(static_cast<int32_t>(ids.data<int64_t>()[b * S + s]));
      if (types.defined())
        seq_types[static_cast<size_t>(b)].push_back(static_cast<int32_t>(types.data<int64_t>()[b * S + s]));
    }
  }
  std::vector<std::span<const int32_t>> id_spans, type_spans;
  for (const auto& v : seq_ids) id_spans.emplace_back(v);
  for (const auto& v : seq_types) type_spans.emplace_back(v);
  StepBuilder builder(encoder.device());
  StepInputs st = builder.encoder_step(id_spans, type_spans, encoder.vocab_size());
  EncoderOutput packed = encoder.forward(st);
  Tensor hidden = ops::to_device(packed.last_hidden_state, Device::cpu()).to(DType::F32).contiguous();
  const int64_t H = hidden.size(1);
  EncoderOutput out;
  out.last_hidden_state = Tensor::zeros({B, S, H}, DType::F32);
  int64_t row = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto n = static_cast<int64_t>(seq_ids[static_cast<size_t>(b)].size());
    std::memcpy(out.last_hidden_state.data<float>() + b * S * H, hidden.data<float>() + row * H,
                static_cast<size_t>(n * H) * sizeof(float));
    row += n;
  }
  if (packed.pooler_output.defined()) out.pooler_output = ops::to_device(packed.pooler_output, Device::cpu());
  return out;
}

}  // namespace ia
