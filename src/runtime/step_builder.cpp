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
                                    KvCache::Reservation& reservation, int64_t min_table_width,
                                    const CrossKvCache* cross) {
  const auto S = static_cast<int64_t>(chunks.size());
  IA_CHECK(S > 0, "step: no sequences");
  std::vector<std::pair<int64_t, int64_t>> want;
  int64_t T = 0;
  for (const auto& ch : chunks) {
    if (ch.tokens.empty()) fail(ErrorKind::InvalidArgument, "step: no new tokens for sequence {}", ch.seq);
    if (cross && (ch.cross < 0 || ch.cross >= cross->sequences()))
      fail(ErrorKind::InvalidArgument, "step: sequence {} attends to encoder sequence {} of {}", ch.seq, ch.cross,
           cross->sequences());
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
  const int64_t W = std::max(max_blocks, min_table_width);
  const bool last_rows = rows == OutputRows::LastOfEachSequence && T != S;

  // Every input in one buffer, so a step is one copy to the device: i64 sections, then i32.
  size_t bytes = 0;
  auto section = [&](int64_t n, DType dtype) {
    const size_t at = bytes;
    bytes += (static_cast<size_t>(n) * dtype_size(dtype) + 7) / 8 * 8;
    return at;
  };
  const size_t at_ids = section(T, DType::I64), at_pos = section(T, DType::I64), at_slots = section(T, DType::I64);
  const size_t at_rows = last_rows ? section(S, DType::I64) : 0;
  const size_t at_starts = section(S + 1, DType::I32), at_tables = section(S * W, DType::I32),
               at_lens = section(S, DType::I32);
  const size_t at_cross = cross ? section(2 * S, DType::I32) : 0;
  Tensor host = staged(packed_, {static_cast<int64_t>(bytes)}, DType::U8);
  auto* base = static_cast<char*>(host.raw());
  auto* ids = reinterpret_cast<int64_t*>(base + at_ids);
  auto* pos = reinterpret_cast<int64_t*>(base + at_pos);
  auto* starts = reinterpret_cast<int32_t*>(base + at_starts);
  auto* tables = reinterpret_cast<int32_t*>(base + at_tables);
  auto* lens = reinterpret_cast<int32_t*>(base + at_lens);
  std::copy(reservation.slots.begin(), reservation.slots.end(), reinterpret_cast<int64_t*>(base + at_slots));
  std::fill(tables, tables + S * W, -1);
  int64_t t = 0;
  starts[0] = 0;
  for (int64_t s = 0; s < S; ++s) {
    const SeqChunk& ch = chunks[static_cast<size_t>(s)];
    const int64_t p0 = st.host_first_pos[static_cast<size_t>(s)];
    for (size_t i = 0; i < ch.tokens.size(); ++i, ++t) {
      ids[t] = ch.tokens[i];
      pos[t] = p0 + static_cast<int64_t>(i);
    }
    const auto& bt = cache.block_table(ch.seq);
    std::copy(bt.begin(), bt.end(), tables + s * W);
    lens[s] = static_cast<int32_t>(st.host_seq_lens[static_cast<size_t>(s)]);
    starts[s + 1] = static_cast<int32_t>(t);
    if (last_rows) reinterpret_cast<int64_t*>(base + at_rows)[s] = t - 1;
    if (cross) {
      auto* range = reinterpret_cast<int32_t*>(base + at_cross) + 2 * s;
      range[0] = static_cast<int32_t>(cross->starts[static_cast<size_t>(ch.cross)]);
      range[1] = static_cast<int32_t>(cross->starts[static_cast<size_t>(ch.cross) + 1]);
    }
  }
  placed_ = placed(host);
  auto view = [&](size_t at, const Shape& shape, DType dtype) {
    return Tensor(placed_.storage(), placed_.offset_bytes() + at, shape, contiguous_strides(shape), dtype);
  };
  st.token_ids = view(at_ids, {T}, DType::I64);
  st.positions = view(at_pos, {T}, DType::I64);
  st.slots = view(at_slots, {T}, DType::I64);
  st.block_tables = view(at_tables, {S, W}, DType::I32);
  st.seq_lens = view(at_lens, {S}, DType::I32);
  st.query_start = view(at_starts, {S + 1}, DType::I32);
  if (last_rows) st.output_rows = view(at_rows, {S}, DType::I64);
  if (cross) {
    st.cross = cross;
    st.cross_ranges = view(at_cross, {S, 2}, DType::I32);
  }
  splice_images(chunks, st);
  return st;
}

void StepBuilder::splice_images(const std::vector<SeqChunk>& chunks, StepInputs& st) {
  std::vector<Tensor> pieces;
  Tensor rows;
  int64_t t = 0, n = 0;
  for (size_t s = 0; s < chunks.size(); ++s) {
    const SeqChunk& ch = chunks[s];
    const auto count = static_cast<int64_t>(ch.tokens.size());
    if (ch.images) {
      const int64_t p0 = st.host_first_pos[s];
      const auto [first, k] = ch.images->rows_in(p0, count);
      if (k > 0) {
        if (!rows.defined()) {
          rows = staged(image_rows_, {st.num_tokens}, DType::I64);
          for (int64_t i = 0; i < st.num_tokens; ++i) rows.data<int64_t>()[i] = i;
        }
        IA_CHECK(first + k <= ch.images->features.size(0), "step: image rows {}..{} of {}", first, first + k,
                 ch.images->features.size(0));
        for (int64_t j = 0; j < k; ++j)
          rows.data<int64_t>()[t + ch.images->positions[static_cast<size_t>(first + j)] - p0] = st.num_tokens + n + j;
        pieces.push_back(ch.images->features.narrow(0, first, k));
        n += k;
      }
    }
    t += count;
  }
  if (pieces.empty()) return;
  st.image_embeddings = pieces.size() == 1 ? pieces[0].contiguous() : ops::concat_rows(pieces);
  st.embedding_rows = placed(rows);
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
