// BERT / sentence-embedding parity against transformers + sentence-transformers
// reference outputs (tests/fixtures/models/bert/reference.*).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "runtime/embedding_endpoint.h"
#include "runtime/step_runner.h"
#include "test_device.h"

namespace ia {
namespace {

const std::string kBertDir = std::string(IA_FIXTURES_DIR) + "/models/bert";

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  nlohmann::json meta;
  std::vector<std::string> texts;
  double atol = 0;
};

Reference load_reference() {
  Reference r;
  r.file = SafetensorsFile::open(kBertDir + "/reference.safetensors");
  std::ifstream in(kBertDir + "/reference.json");
  r.meta = nlohmann::json::parse(in);
  r.texts = r.meta["texts"].get<std::vector<std::string>>();
  r.atol = r.meta["atol"].get<double>();
  return r;
}

double cosine(const float* a, const float* b, int64_t n) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += static_cast<double>(a[i]) * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

// Max abs difference over rows whose mask is 1 ([B, S, H] tensors, [B, S] mask).
double max_err_masked(const Tensor& got, const Tensor& want, const Tensor& mask) {
  const int64_t B = want.size(0), S = want.size(1), H = want.size(2);
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  Tensor m = mask.to(DType::I64);
  double err = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s) {
      if (m.data<int64_t>()[b * S + s] == 0) continue;
      for (int64_t h = 0; h < H; ++h) {
        size_t i = static_cast<size_t>((b * S + s) * H + h);
        err = std::max(err, static_cast<double>(std::fabs(g[i] - w[i])));
      }
    }
  return err;
}

double max_err(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  double err = 0;
  for (size_t i = 0; i < w.size(); ++i) err = std::max(err, static_cast<double>(std::fabs(g[i] - w[i])));
  return err;
}

TEST(BertParity, TokenizerReproducesReferenceIds) {
  Reference ref = load_reference();
  auto ep = EmbeddingEndpoint::load(kBertDir, test_device(), DType::F32);
  Tensor ids = ref.file->tensor("input_ids");
  Tensor mask = ref.file->tensor("attention_mask");
  const int64_t S = ids.size(1);
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    tok::Encoding e = ep->tokenizer().encode(ref.texts[i]);
    std::vector<int64_t> want;
    for (int64_t s = 0; s < S; ++s) {
      if (mask.data<int64_t>()[static_cast<int64_t>(i) * S + s])
        want.push_back(ids.data<int64_t>()[static_cast<int64_t>(i) * S + s]);
    }
    std::vector<int64_t> got(e.ids.begin(), e.ids.end());
    EXPECT_EQ(got, want) << "text " << i;
  }
}

TEST(BertParity, LastHiddenStateAndPoolerF32) {
  Reference ref = load_reference();
  auto ep = EmbeddingEndpoint::load(kBertDir, test_device(), DType::F32);
  Tensor ids = ref.file->tensor("input_ids"), mask = ref.file->tensor("attention_mask");
  EncoderOutput out = encode_padded(ep->encoder(), ids, mask, nullptr);
  double err = max_err_masked(out.last_hidden_state, ref.file->tensor("last_hidden_state"), mask);
  EXPECT_LE(err, ref.atol) << "last_hidden_state";
  ASSERT_TRUE(out.pooler_output.defined());
  EXPECT_LE(max_err(out.pooler_output, ref.file->tensor("pooler_output")), ref.atol) << "pooler_output";
  std::printf("bert f32 last_hidden_state max abs err %.3g (atol %.1g)\n", err, ref.atol);
}

TEST(BertParity, PairInputWithTokenTypes) {
  Reference ref = load_reference();
  auto ep = EmbeddingEndpoint::load(kBertDir, test_device(), DType::F32);
  Tensor ids = ref.file->tensor("pair_input_ids"), types = ref.file->tensor("pair_token_type_ids");
  Tensor mask = Tensor::empty(ids.shape(), DType::I64);
  for (int64_t i = 0; i < mask.numel(); ++i) mask.data<int64_t>()[i] = 1;
  EncoderOutput out = encode_padded(ep->encoder(), ids, mask, &types);
  EXPECT_LE(max_err(out.last_hidden_state, ref.file->tensor("pair_last_hidden_state")), ref.atol);
}

TEST(BertParity, SentenceEmbeddingThroughTheFullPipeline) {
  Reference ref = load_reference();
  auto ep = EmbeddingEndpoint::load(kBertDir, test_device(), DType::F32);
  EXPECT_EQ(ep->default_pooling(), PoolMode::Mean);
  EXPECT_TRUE(ep->default_normalize());
  EmbeddingResult r = ep->embed(ref.texts, {});
  EXPECT_LE(max_err(r.embeddings, ref.file->tensor("sentence_embedding")), ref.atol);
}

TEST(BertParity, BatchEqualsOneByOne) {
  Reference ref = load_reference();
  auto ep = EmbeddingEndpoint::load(kBertDir, test_device(), DType::F32);
  EmbeddingResult batch = ep->embed(ref.texts, {});
  for (size_t i = 0; i < ref.texts.size(); ++i) {
    EmbeddingResult one = ep->embed({ref.texts[i]}, {});
    Tensor row = batch.embeddings.select(0, static_cast<int64_t>(i)).contiguous().view({1, -1});
    EXPECT_LE(max_err(one.embeddings, row), 1e-5) << "text " << i;
  }
  // Batch size 1 and 2 chunks give the same vectors as one batch.
  EmbeddingOptions small;
  small.batch_size = 2;
  EXPECT_LE(max_err(ep->embed(ref.texts, small).embeddings, batch.embeddings), 1e-5);
}

TEST(BertParity, Bf16CosineToF32Reference) {
  Reference ref = load_reference();
  auto ep = EmbeddingEndpoint::load(kBertDir, test_device(), DType::BF16);
  EmbeddingResult r = ep->embed(ref.texts, {});
  Tensor want = ref.file->tensor("sentence_embedding");
  const int64_t H = want.size(1);
  for (int64_t i = 0; i < want.size(0); ++i) {
    double c = cosine(r.embeddings.data<float>() + i * H, want.data<float>() + i * H, H);
    EXPECT_GE(c, 0.999) << "text " << i;
    std::printf("bert bf16 sentence_embedding[%lld] cosine to f32 reference %.6f\n", static_cast<long long>(i), c);
  }
  Tensor ids = ref.file->tensor("input_ids"), mask = ref.file->tensor("attention_mask");
  EncoderOutput out = encode_padded(ep->encoder(), ids, mask, nullptr);
  Tensor lhs = ref.file->tensor("last_hidden_state");
  const int64_t S = lhs.size(1);
  for (int64_t b = 0; b < lhs.size(0); ++b)
    for (int64_t s = 0; s < S; ++s) {
      if (!mask.data<int64_t>()[b * S + s]) continue;
      int64_t off = (b * S + s) * H;
      EXPECT_GE(cosine(out.last_hidden_state.data<float>() + off, lhs.data<float>() + off, H), 0.999);
    }
}

}  // namespace
}  // namespace ia
