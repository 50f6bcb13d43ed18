#include "runtime/step_builder.h"

#include <algorithm>

#include "core/error.h"
#include "ops/ops.h"

namespace ia {

Tensor StepBuilder::staged(Tensor& buffer, const Shape& shape, DType dtype) {
  const int64_t n = std::max<int64_t>(1, shape_numel(shape));
  if (!buffer.defined() || buffer.dtype() != dtype || buffer.numel() < n)
    buffer = Tensor::empty({std::max<int64_t>(n, buffer.defined() ? 2 * buffer.numel() : 0)}, dtype);
  return buffer.narrow(0, 0, shape_numel(shape)).view(shape);
}

Tensor StepBuilder::placed(const Tensor& host) const {
  return ops::to_device(host, device_);
}

namespace {

void check_ids(std::span<const int32_t> ids, int64_t vocab) {
  for (int32_t id : ids)
    if (id < 0 || id >= vocab)
      fail(ErrorKind::InvalidArgument, "token id {} is outside the model's vocabulary of {}", id, vocab);
}

}  // namespace

StepInputs StepBuilder::causal_step(const std::vector<SeqChunk>& chunks, KvCache& cache, int64_t vocab, OutputRows rows,
                                    KvCache::Reservation& reservation) {
  const auto S = static_cast<int64_t>(chunks.size());
  IA_CHECK(S > 0, "step: no sequences");
  std::vector<std::pair<int64_t, int64_t>> want;
  int64_t T = 0;
  for (const auto& ch : chunks) {
    if (ch.tokens.empty()) fail(ErrorKind::InvalidArgument, "step: no new tokens for sequence {}", ch.seq);
    check_ids(ch.tokens, vocab);
    want.emplace_back(ch.seq, static_cast<int64_t>(ch.tokens.size()));
    T += static_cast<int64_t>(ch.tokens.size());
  }
  reservation = cache.reserve(want);  // all or nothing

  StepInputs st;
  st.num_tokens = T;
  st.num_sequences = S;
  int64_t max_blocks = 1;
  for (const auto& ch : chunks) {
    const int64_t len = cache.length(ch.seq);
    st.host_seq_lens.push_back(len);
    st.host_first_pos.push_back(len - static_cast<int64_t>(ch.tokens.size()));
    st.max_seq_len = std::max(st.max_seq_len, len);
    max_blocks = std::max(max_blocks, cache.blocks_for(len));
  }
  Tensor ids = staged(ids_, {T}, DType::I64), pos = staged(positions_, {T}, DType::I64);
  Tensor slots = staged(slots_, {T}, DType::I64), starts = staged(starts_, {S + 1}, DType::I32);
  Tensor tables = staged(tables_, {S, max_blocks}, DType::I32), lens = staged(lens_, {S}, DType::I32);
  std::copy(reservation.slots.begin(), reservation.slots.end(), slots.data<int64_t>());
  std::fill(tables.data<int32_t>(), tables.data<int32_t>() + S * max_blocks, -1);
  int64_t t = 0;
  starts.data<int32_t>()[0] = 0;
  for (int64_t s = 0; s < S; ++s) {
    const SeqChunk& ch = chunks[static_cast<size_t>(s)];
    const int64_t p0 = st.host_first_pos[static_cast<size_t>(s)];
    for (size_t i = 0; i < ch.tokens.size(); ++i, ++t) {
      ids.data<int64_t>()[t] = ch.tokens[i];
      pos.data<int64_t>()[t] = p0 + static_cast<int64_t>(i);
    }
    const auto& bt = cache.block_table(ch.seq);
    std::copy(bt.begin(), bt.end(), tables.data<int32_t>() + s * max_blocks);
    lens.data<int32_t>()[s] = static_cast<int32_t>(st.host_seq_lens[static_cast<size_t>(s)]);
    starts.data<int32_t>()[s + 1] = static_cast<int32_t>(t);
  }
  st.token_ids = placed(ids);
  st.positions = placed(pos);
  st.slots = placed(slots);
  st.block_tables = placed(tables);
  st.seq_lens = placed(lens);
  st.query_start = placed(starts);
  if (rows == OutputRows::LastOfEachSequence && T != S) {
    Tensor last = staged(rows_, {S}, DType::I64);
    for (int64_t s = 0; s < S; ++s) last.data<int64_t>()[s] = starts.data<int32_t>()[s + 1] - 1;
    st.output_rows = placed(last);
  }
  return st;
}

StepInputs StepBuilder::encoder_step(const std::vector<std::span<const int32_t>>& ids,
                                     const std::vector<std::span<const int32_t>>& types, int64_t vocab) {
  const auto S = static_cast<int64_t>(ids.size());
  IA_CHECK(S > 0, "step: no sequences");
  IA_CHECK(types.empty() || types.size() == ids.size(), "step: {} segment lists for {} sequences", types.size(),
           ids.size());
  int64_t T = 0;
  for (const auto& seq : ids) {
    if (seq.empty()) fail(ErrorKind::InvalidArgument, "step: an empty sequence");
    check_ids(seq, vocab);
    T += static_cast<int64_t>(seq.size());
  }
  StepInputs st;
  st.num_tokens = T;
  st.num_sequences = S;
  Tensor tid = staged(ids_, {T}, DType::I64), pos = staged(positions_, {T}, DType::I64);
  Tensor starts = staged(starts_, {S + 1}, DType::I32);
  Tensor typ = types.empty() ? Tensor() : staged(types_, {T}, DType::I64);
  int64_t t = 0;
  starts.data<int32_t>()[0] = 0;
  for (int64_t s = 0; s < S; ++s) {
    const auto& seq = ids[static_cast<size_t>(s)];
    const auto n = static_cast<int64_t>(seq.size());
    for (int64_t i = 0; i < n; ++i) {
      tid.data<int64_t>()[t + i] = seq[static_cast<size_t>(i)];
      pos.data<int64_t>()[t + i] = i;
      if (typ.defined()) {
        const auto& ty = types[static_cast<size_t>(s)];
        typ.data<int64_t>()[t + i] = i < static_cast<int64_t>(ty.size()) ? ty[static_cast<size_t>(i)] : 0;
      }
    }
    t += n;
    starts.data<int32_t>()[s + 1] = static_cast<int32_t>(t);
    st.host_seq_lens.push_back(n);
    st.host_first_pos.push_back(0);
    st.max_seq_len = std::max(st.max_seq_len, n);
  }
  st.token_ids = placed(tid);
  st.positions = placed(pos);
  st.query_start = placed(starts);
  if (typ.defined()) st.token_types = placed(typ);
  return st;
}

}  // namespace ia
