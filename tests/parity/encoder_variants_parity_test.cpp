// RoBERTa and DistilBERT parity: the BERT-style encoder configured by weight-name
// maps and position flags, against transformers reference outputs
// (tests/fixtures/models/{roberta,distilbert}/reference.*, made by
// tools/fixtures/make_encoder_fixtures.py).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "models/bert_encoder.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/step_runner.h"
#include "test_device.h"

namespace ia {
namespace {

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

struct Reference {
  std::string dir;
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  std::vector<std::string> texts;
  double atol = 0;
};

Reference load_reference(const std::string& name) {
  Reference r;
  r.dir = kModels + name;
  r.file = SafetensorsFile::open(r.dir + "/reference.safetensors");
  std::ifstream in(r.dir + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  r.texts = r.meta["texts"].get<std::vector<std::string>>();
  r.atol = r.meta["atol"].get<double>();
  return r;
}

// Max abs difference over rows whose mask is 1 ([B, S, H] tensors, [B, S] mask).
double max_err_masked(const Tensor& got, const Tensor& want, const Tensor& mask) {
  EXPECT_EQ(got.shape(), want.shape());
  const int64_t B = want.size(0), S = want.size(1), H = want.size(2);
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  Tensor m = mask.to(DType::I64);
  double err = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      if (m.data<int64_t>()[b * S + s] == 0) continue;
      for (int64_t h = 0; h < H; ++h) {
        size_t i = static_cast<size_t>((b * S + s) * H + h);
        double d = std::fabs(static_cast<double>(g[i]) - w[i]);
        if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;  // NaN never passes
      }
    }
  return err;
}

double max_err(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  double err = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    double d = std::fabs(static_cast<double>(g[i]) - w[i]);
    if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;
  }
  return err;
}

// The endpoint's tokenizer gives the reference's ids for every text (the reference
// batch is right-padded; only the real tokens are compared).
void expect_reference_ids(const EmbeddingEndpoint& ep, const Reference& ref) {
  Tensor ids = ref.file->tensor("input_ids");
  Tensor mask = ref.file->tensor("attention_mask");
  const int64_t S = ids.size(1);
  ASSERT_EQ(ids.size(0), static_cast<int64_t>(ref.texts.size()));
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    tok::Encoding e = ep.tokenizer().encode(ref.texts[i]);
    std::vector<int64_t> want;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t at = static_cast<int64_t>(i) * S + s;
      if (mask.data<int64_t>()[at]) want.push_back(ids.data<int64_t>()[at]);
    }
    std::vector<int64_t> got(e.ids.begin(), e.ids.end());
    EXPECT_EQ(got, want) << ref.dir << " text " << i;
  }
}

// ---------------------------------------------------------------- RoBERTa

TEST(RobertaParity, LoadsAsOffsetPositionEncoder) {
  Reference ref = load_reference("roberta");
  auto ep = EmbeddingEndpoint::load(ref.dir, test_device(), DType::F32);
  EXPECT_EQ(ep->kind().model_type, "roberta");
  EXPECT_EQ(dynamic_cast<const BertEncoder&>(ep->encoder()).weight_prefix(), "");
  // 130 positions, the first pad_token_id + 1 = 1 of them unused by real tokens.
  EXPECT_EQ(ep->encoder().max_input_tokens(), 129);
  expect_reference_ids(*ep, ref);
}

TEST(RobertaParity, LastHiddenStateAndPoolerF32) {
  Reference ref = load_reference("roberta");
  auto ep = EmbeddingEndpoint::load(ref.dir, test_device(), DType::F32);
  Tensor ids = ref.file->tensor("input_ids"), mask = ref.file->tensor("attention_mask");
  EncoderOutput out = encode_padded(ep->encoder(), ids, mask, nullptr);
  double err = max_err_masked(out.last_hidden_state, ref.file->tensor("last_hidden_state"), mask);
  EXPECT_LE(err, ref.atol) << "last_hidden_state";
  ASSERT_TRUE(out.pooler_output.defined());
  double perr = max_err(out.pooler_output, ref.file->tensor("pooler_output"));
  EXPECT_LE(perr, ref.atol) << "pooler_output";
  std::printf("roberta f32 last_hidden_state max abs err %.3g, pooler %.3g (atol %.1g)\n", err, perr, ref.atol);
}

TEST(RobertaParity, EachRowAloneMatchesThePaddedBatch) {
  // Positions count real tokens, so a row's hidden states do not depend on the padding around it.
  Reference ref = load_reference("roberta");
  auto ep = EmbeddingEndpoint::load(ref.dir, test_device(), DType::F32);
  Tensor ids = ref.file->tensor("input_ids"), mask = ref.file->tensor("attention_mask");
  Tensor want = ref.file->tensor("last_hidden_state");
  const int64_t B = ids.size(0), S = ids.size(1), H = want.size(2);
  for (int64_t b = 0; b < B; ++b) {
    int64_t n = 0;
    while (n < S && mask.data<int64_t>()[b * S + n]) ++n;
    Tensor row_ids = Tensor::empty({1, n}, DType::I64), row_mask = Tensor::empty({1, n}, DType::I64);
    for (int64_t s = 0; s < n; ++s) {
      row_ids.data<int64_t>()[s] = ids.data<int64_t>()[b * S + s];
      row_mask.data<int64_t>()[s] = 1;
    }
    Tensor got = encode_padded(ep->encoder(), row_ids, row_mask, nullptr).last_hidden_state.to(DType::F32);
    std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
    double err = 0;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t h = 0; h < H; ++h) {
        double d = std::fabs(static_cast<double>(g[static_cast<size_t>(s * H + h)]) -
                             w[static_cast<size_t>((b * S + s) * H + h)]);
        if (!(d <= err)) err = std::isnan(d) ? INFINITY : d;
      }
    EXPECT_LE(err, ref.atol) << "row " << b;
  }
}

// ---------------------------------------------------------------- DistilBERT

TEST(DistilBertParity, LoadsWithItsOwnWeightNamesAndNoPooler) {
  Reference ref = load_reference("distilbert");
  auto ep = EmbeddingEndpoint::load(ref.dir, test_device(), DType::F32);
  EXPECT_EQ(ep->kind().model_type, "distilbert");
  EXPECT_EQ(ep->encoder().max_input_tokens(), 128);
  EXPECT_EQ(ep->default_pooling(), PoolMode::Cls);
  EXPECT_FALSE(ep->default_normalize());
  expect_reference_ids(*ep, ref);
}

TEST(DistilBertParity, LastHiddenStateF32) {
  Reference ref = load_reference("distilbert");
  auto ep = EmbeddingEndpoint::load(ref.dir, test_device(), DType::F32);
  Tensor ids = ref.file->tensor("input_ids"), mask = ref.file->tensor("attention_mask");
  EncoderOutput out = encode_padded(ep->encoder(), ids, mask, nullptr);
  double err = max_err_masked(out.last_hidden_state, ref.file->tensor("last_hidden_state"), mask);
  EXPECT_LE(err, ref.atol) << "last_hidden_state";
  EXPECT_FALSE(out.pooler_output.defined());
  std::printf("distilbert f32 last_hidden_state max abs err %.3g (atol %.1g)\n", err, ref.atol);
}

TEST(DistilBertParity, ClsSentenceEmbeddingThroughTheFullPipeline) {
  Reference ref = load_reference("distilbert");
  auto ep = EmbeddingEndpoint::load(ref.dir, test_device(), DType::F32);
  EmbeddingResult r = ep->embed(ref.texts, {});
  EXPECT_EQ(r.pooling, PoolMode::Cls);
  EXPECT_FALSE(r.normalized);
  double err = max_err(r.embeddings, ref.file->tensor("sentence_embedding"));
  EXPECT_LE(err, ref.atol) << "sentence_embedding";
  std::printf("distilbert f32 sentence_embedding (cls) max abs err %.3g (atol %.1g)\n", err, ref.atol);
}

}  // namespace
}  // namespace ia
