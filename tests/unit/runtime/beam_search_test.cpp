// Beam search (runtime/beam_search.h) on the fixture models: a decoder-only one (gpt2, llama)
// and an encoder-decoder (t5), on what can be checked exactly without transformers: one beam is
// greedy search; the hypotheses come sorted by score, and each score is the hypothesis' own sum
// of log-probs (recomputed by teacher forcing) divided by length ^ length_penalty; with
// no_repeat_ngram_size no n-gram repeats; hypotheses end in eos or at the length limit;
// early_stopping true stops at num_beams finished hypotheses; every KV block comes back; the
// Generator's num_beams path returns the best hypothesis and refuses what beam search does not
// do. Equality with transformers' own beam outputs is tools/fixtures/make_seq2seq_fixtures.py's
// job (run on the GPU machine).
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <set>

#include "core/error.h"
#include "runtime/beam_search.h"
#include "runtime/generation.h"
#include "runtime/step_builder.h"
#include "runtime/step_runner.h"

namespace ia {
namespace {

std::string fixture(const std::string& f) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + f;
}

class BeamSearch : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    gen_ = Generator::load(fixture(GetParam()), Device::cpu(), DType::F32);
    prompt_ = gen_->tokenizer().encode("The meaning of life is").ids;
    const EncoderDecoder* ed = gen_->encoder_decoder();
    if (ed) {
      StepBuilder builder(Device::cpu());
      const StepInputs step = builder.encoder_step({prompt_}, {}, ed->encoder().vocab_size());
      cross_ = ed->make_cross_cache(ed->encoder().forward(step).last_hidden_state,
                                    {0, static_cast<int64_t>(prompt_.size())});
      decoder_prompt_ = {static_cast<int32_t>(ed->decoder_start_token_id())};
    } else {
      decoder_prompt_ = prompt_;
    }
  }

  const CausalLM& model() const { return gen_->model(); }
  int64_t vocab() const { return model().config().vocab_size; }
  int64_t cross_index() const { return cross_ ? 0 : -1; }

  std::vector<BeamHypothesis> search(const BeamSearchParams& p) {
    CausalStepRunner runner(model());
    if (cross_) runner.set_cross_cache(&*cross_);
    auto cache = model().make_cache(beam_search_blocks(p, static_cast<int64_t>(decoder_prompt_.size()), 16), 16);
    auto hyps = beam_search(runner, *cache, decoder_prompt_, cross_index(), vocab(), p);
    EXPECT_EQ(cache->free_blocks(), cache->num_blocks()) << "beam search left KV blocks held";
    return hyps;
  }

  // Sum of the log-probs of `ids` after the decoder prompt, by teacher forcing in one step (f64).
  double sum_logprob(const std::vector<int32_t>& ids) {
    CausalStepRunner runner(model());
    if (cross_) runner.set_cross_cache(&*cross_);
    std::vector<int32_t> seq = decoder_prompt_;
    seq.insert(seq.end(), ids.begin(), ids.end() - 1);
    auto cache = model().make_cache((static_cast<int64_t>(seq.size()) + 15) / 16 + 1, 16);
    const Tensor logits =
        runner.step({SeqChunk{cache->create_sequence(), seq, cross_index()}}, *cache, OutputRows::All);
    const int64_t V = vocab(), first = static_cast<int64_t>(decoder_prompt_.size()) - 1;
    double sum = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      const float* row = logits.data<float>() + (first + static_cast<int64_t>(i)) * V;
      double mx = row[0], z = 0;
      for (int64_t v = 0; v < V; ++v) mx = std::max(mx, static_cast<double>(row[v]));
      for (int64_t v = 0; v < V; ++v) z += std::exp(row[v] - mx);
      sum += row[ids[i]] - mx - std::log(z);
    }
    return sum;
  }

  std::vector<int32_t> greedy(int64_t n) {
    GenerationRequest req;
    req.temperature = 0.0f;
    req.max_new_tokens = n;
    req.ignore_eos = true;
    return gen_->generate_ids({prompt_}, req).at(0).ids;
  }

  std::shared_ptr<Generator> gen_;
  std::vector<int32_t> prompt_, decoder_prompt_;
  std::optional<CrossKvCache> cross_;
};

TEST_P(BeamSearch, OneBeamIsGreedySearch) {
  BeamSearchParams p;
  p.num_beams = 1;
  p.max_new_tokens = 12;
  const auto hyps = search(p);
  ASSERT_EQ(hyps.size(), 1u);
  EXPECT_EQ(hyps[0].ids, greedy(12));
}

TEST_P(BeamSearch, ScoresAreSortedSumLogprobOverLengthPenalty) {
  for (float lp : {1.0f, 0.5f, 2.0f, 0.0f}) {
    SCOPED_TRACE(lp);
    BeamSearchParams p;
    p.num_beams = 4;
    p.length_penalty = lp;
    p.max_new_tokens = 10;
    const auto hyps = search(p);
    ASSERT_EQ(hyps.size(), 4u);
    std::set<std::vector<int32_t>> distinct;
    for (size_t i = 0; i < hyps.size(); ++i) {
      const BeamHypothesis& h = hyps[i];
      ASSERT_EQ(h.ids.size(), 10u);  // no eos: every hypothesis runs to the limit
      EXPECT_FALSE(h.eos);
      if (i > 0) {
        EXPECT_LE(h.score, hyps[i - 1].score) << "hypotheses not sorted";
      }
      const double want = sum_logprob(h.ids) / std::pow(static_cast<double>(h.ids.size()), lp);
      EXPECT_NEAR(h.score, want, 1e-4 * std::max(1.0, std::fabs(want))) << "hypothesis " << i;
      distinct.insert(h.ids);
    }
    EXPECT_EQ(distinct.size(), hyps.size()) << "the beams are not distinct hypotheses";
    // Without eos every hypothesis has the same length, so the best is the best sum of log-probs,
    // at least as good as greedy search's sequence whenever greedy is among the finalists.
    const std::vector<int32_t> g = greedy(10);
    for (const auto& h : hyps)
      if (h.ids == g) {
        EXPECT_GE(hyps[0].score, h.score);
      }
  }
}

TEST_P(BeamSearch, NoRepeatNgramSize) {
  for (int64_t n : {1, 2, 3}) {
    SCOPED_TRACE(n);
    BeamSearchParams p;
    p.num_beams = 3;
    p.max_new_tokens = 12;
    p.processors.no_repeat_ngram_size = n;
    const auto hyps = search(p);
    ASSERT_FALSE(hyps.empty());
    for (const auto& h : hyps) {
      std::vector<int32_t> seq = decoder_prompt_;
      seq.insert(seq.end(), h.ids.begin(), h.ids.end());
      std::set<std::vector<int32_t>> seen;
      for (size_t i = 0; i + static_cast<size_t>(n) <= seq.size(); ++i) {
        std::vector<int32_t> gram(seq.begin() + static_cast<std::ptrdiff_t>(i),
                                  seq.begin() + static_cast<std::ptrdiff_t>(i) + n);
        // The prompt may repeat itself; a generated token may not complete a repeat.
        if (i + static_cast<size_t>(n) > decoder_prompt_.size()) {
          EXPECT_TRUE(seen.insert(gram).second) << "repeated " << n << "-gram at " << i;
        } else {
          seen.insert(gram);
        }
      }
    }
  }
  // The same processor in greedy decoding (Sampler): no repeated bigram either.
  GenerationRequest req;
  req.temperature = 0.0f;
  req.max_new_tokens = 12;
  req.ignore_eos = true;
  req.no_repeat_ngram_size = 2;
  std::vector<int32_t> seq = decoder_prompt_;
  for (int32_t t : gen_->generate_ids({prompt_}, req).at(0).ids) seq.push_back(t);
  std::set<std::pair<int32_t, int32_t>> bigrams;
  for (size_t i = 0; i + 1 < seq.size(); ++i)
    if (i + 2 > decoder_prompt_.size()) {
      EXPECT_TRUE(bigrams.insert({seq[i], seq[i + 1]}).second) << "at " << i;
    }
}

TEST_P(BeamSearch, EosEndsHypothesesAndEarlyStopping) {
  // The token greedy search emits first, made the eos: some continuations end on it at once. A
  // negative length penalty favours short hypotheses, so those then survive to the end.
  const std::vector<int32_t> g = greedy(4);
  for (float lp : {1.0f, -1.0f})
    for (EarlyStopping es : {EarlyStopping::Heuristic, EarlyStopping::Done, EarlyStopping::Never}) {
      SCOPED_TRACE(::testing::Message() << "length_penalty " << lp << " early_stopping " << static_cast<int>(es));
      BeamSearchParams p;
      p.num_beams = 3;
      p.max_new_tokens = 8;
      p.length_penalty = lp;
      p.early_stopping = es;
      p.eos_token_ids = {g[0]};
      const auto hyps = search(p);
      ASSERT_EQ(hyps.size(), 3u);
      bool some_eos = false;
      for (const auto& h : hyps) {
        ASSERT_FALSE(h.ids.empty());
        EXPECT_TRUE(h.eos ? h.ids.back() == g[0] : h.ids.size() == 8u);
        for (size_t i = 0; i + 1 < h.ids.size(); ++i) EXPECT_NE(h.ids[i], g[0]) << "eos inside a hypothesis";
        some_eos = some_eos || h.eos;
        const double want = sum_logprob(h.ids) / std::pow(static_cast<double>(h.ids.size()), lp);
        EXPECT_NEAR(h.score, want, 1e-4 * std::max(1.0, std::fabs(want)));
      }
      if (lp < 0) {
        EXPECT_TRUE(some_eos);
      }
    }
}

TEST_P(BeamSearch, GeneratorRunsBeamSearchWhenAsked) {
  GenerationRequest req;
  req.temperature = 0.0f;
  req.max_new_tokens = 9;
  req.ignore_eos = true;
  req.num_beams = 4;
  req.length_penalty = 0.5f;
  BeamSearchParams p;
  p.num_beams = 4;
  p.length_penalty = 0.5f;
  p.max_new_tokens = 9;
  const auto hyps = search(p);
  std::string streamed;
  const GenerationResult r =
      gen_->generate_ids({prompt_}, req, [&](size_t, const std::string& d) { streamed += d; }).at(0);
  EXPECT_EQ(r.ids, hyps[0].ids);
  ASSERT_TRUE(r.beam_score.has_value());
  EXPECT_FLOAT_EQ(*r.beam_score, hyps[0].score);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.text, gen_->tokenizer().decode(r.ids, true));
  EXPECT_EQ(streamed, r.text);
  EXPECT_EQ(r.prompt_ids, prompt_);

  auto refused = [&](GenerationRequest bad) {
    try {
      gen_->generate_ids({prompt_}, bad);
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument) << e.what();
    }
  };
  GenerationRequest sampled = req;
  sampled.temperature = 0.8f;
  refused(sampled);
  GenerationRequest stops = req;
  stops.stop = {"x"};
  refused(stops);
  GenerationRequest lp = req;
  lp.logprobs = 0;
  refused(lp);
  GenerationRequest many = req;
  many.num_beams = kMaxBeams + 1;
  refused(many);
  GenerationRequest zero = req;
  zero.num_beams = 0;
  refused(zero);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, BeamSearch, ::testing::Values("t5", "gpt2", "llama"));

}  // namespace
}  // namespace ia
