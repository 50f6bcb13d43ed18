// `embed` as sentence-transformers 6.0.1 encodes, against its own outputs
// (tools/fixtures/make_sentence_transformers_fixtures.py):
//   st-bert   BERT, max_seq_length 10 (longer texts truncated, [SEP] kept), mean pooling,
//             Dense 32 -> 16 tanh, Normalize, prompts, an empty text;
//   st-qwen3  a Qwen3 decoder as the Transformer module (Qwen3-Embedding style),
//             lasttoken pooling, Normalize, max_seq_length 24, a query prompt.
// Each folder is loaded as a user's model folder, through the runtime's endpoint and
// through the public API; embeddings within reference.json's atol, token ids equal.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/safetensors.h"
#include "ipfs_accelerate/accelerator.h"
#include "runtime/embedding_endpoint.h"
#include "test_device.h"

namespace ia {
namespace {

namespace fs = std::filesystem;

std::string fixture(const std::string& name) {
  return std::string(IA_FIXTURES_DIR) + "/models/" + name;
}

struct Reference {
  std::shared_ptr<SafetensorsFile> file;
  std::vector<std::string> texts;
  std::string query_prompt;
  double atol = 0;
};

Reference load_reference(const std::string& dir) {
  Reference r;
  r.file = SafetensorsFile::open(dir + "/reference.safetensors");
  std::ifstream in(dir + "/reference.json");
  nlohmann::json meta = nlohmann::json::parse(in);
  r.texts = meta["texts"].get<std::vector<std::string>>();
  r.query_prompt = meta["prompts"]["query"].get<std::string>();
  r.atol = meta["atol"].get<double>();
  return r;
}

// Each row's ids where the attention mask is 1 (sentence-transformers padded them, left or right).
std::vector<std::vector<int32_t>> reference_ids(const Reference& ref, const std::string& suffix) {
  Tensor ids = ref.file->tensor("input_ids" + suffix).to(DType::I64);
  Tensor mask = ref.file->tensor("attention_mask" + suffix).to(DType::I64);
  const int64_t B = ids.size(0), S = ids.size(1);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t s = 0; s < S; ++s)
      if (mask.data<int64_t>()[b * S + s])
        out[static_cast<size_t>(b)].push_back(static_cast<int32_t>(ids.data<int64_t>()[b * S + s]));
  return out;
}

double max_err(const Tensor& got, const Tensor& want) {
  EXPECT_EQ(got.shape(), want.shape());
  if (got.shape() != want.shape()) return INFINITY;
  std::vector<float> g = got.to_f32_vector(), w = want.to_f32_vector();
  double err = 0;
  for (size_t i = 0; i < w.size(); ++i) err = std::max(err, static_cast<double>(std::fabs(g[i] - w[i])));
  return err;
}

double max_err(const std::vector<std::vector<float>>& got, const Tensor& want) {
  const int64_t N = want.size(0), D = want.size(1);
  EXPECT_EQ(got.size(), static_cast<size_t>(N));
  std::vector<float> flat;
  for (const auto& row : got) {
    EXPECT_EQ(row.size(), static_cast<size_t>(D));
    flat.insert(flat.end(), row.begin(), row.end());
  }
  if (flat.size() != static_cast<size_t>(N * D)) return INFINITY;
  return max_err(Tensor::from_vector(flat, {N, D}), want);
}

std::string param_name(const ::testing::TestParamInfo<const char*>& info) {
  std::string name = info.param;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

class SentenceTransformersParity : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    dir_ = fixture(GetParam());
    ref_ = load_reference(dir_);
    ep_ = EmbeddingEndpoint::load(dir_, test_device(), DType::F32);
  }
  static EmbeddingOptions query() {
    EmbeddingOptions o;
    o.prompt_name = "query";
    return o;
  }
  std::string dir_;
  Reference ref_;
  std::shared_ptr<EmbeddingEndpoint> ep_;
};

TEST_P(SentenceTransformersParity, TokenIdsAreThoseSentenceTransformersFedTheModel) {
  for (const auto& [suffix, options] : {std::pair<std::string, EmbeddingOptions>{"", {}}, {"_query", query()}}) {
    const auto want = reference_ids(ref_, suffix);
    EncodedTexts enc = ep_->encode(ref_.texts, options);
    ASSERT_EQ(enc.encodings.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(enc.encodings[i].ids, want[i]) << "text " << i << suffix;
  }
}

TEST_P(SentenceTransformersParity, EmbeddingsF32) {
  EmbeddingResult r = ep_->embed(ref_.texts, {});
  const double err = max_err(r.embeddings, ref_.file->tensor("embeddings"));
  EXPECT_LE(err, ref_.atol);
  EXPECT_TRUE(r.normalized);
  std::printf("%s embeddings max abs err %.3g (atol %.1g)\n", GetParam(), err, ref_.atol);
}

TEST_P(SentenceTransformersParity, EmbeddingsWithTheQueryPromptF32) {
  const Tensor want = ref_.file->tensor("embeddings_query");
  const double err = max_err(ep_->embed(ref_.texts, query()).embeddings, want);
  EXPECT_LE(err, ref_.atol);
  std::printf("%s embeddings_query max abs err %.3g (atol %.1g)\n", GetParam(), err, ref_.atol);
  EmbeddingOptions text;  // the prompt's text instead of its name: the same
  text.prompt = ref_.query_prompt;
  EXPECT_LE(max_err(ep_->embed(ref_.texts, text).embeddings, want), ref_.atol);
}

TEST_P(SentenceTransformersParity, BatchesOfOneGiveTheSameRows) {
  EmbeddingOptions one;
  one.batch_size = 1;
  EXPECT_LE(max_err(ep_->embed(ref_.texts, one).embeddings, ref_.file->tensor("embeddings")), ref_.atol);
}

TEST_P(SentenceTransformersParity, ThroughThePublicApi) {
  ipfs_accelerate::Accelerator acc;
  ipfs_accelerate::EmbedOptions o;
  ipfs_accelerate::EmbedResult r = acc.embed(dir_, ref_.texts, o);
  EXPECT_LE(max_err(r.embeddings, ref_.file->tensor("embeddings")), ref_.atol);
  EXPECT_EQ(r.dimensions, ref_.file->tensor("embeddings").size(1));
  EXPECT_TRUE(r.normalized);
  o.prompt_name = "query";
  r = acc.embed(dir_, ref_.texts, o);
  EXPECT_LE(max_err(r.embeddings, ref_.file->tensor("embeddings_query")), ref_.atol);
}

TEST_P(SentenceTransformersParity, TruncatesToMaxSeqLengthWithOneSummary) {
  const auto want = reference_ids(ref_, "");
  const int64_t max_seq = ref_.file->tensor("input_ids").size(1);  // padded to max_seq_length: some text reaches it
  EXPECT_EQ(ep_->max_length(), max_seq);
  EmbeddingResult r = ep_->embed(ref_.texts, {});
  EXPECT_EQ(r.max_length, max_seq);
  std::vector<int> cut;
  for (size_t i = 0; i < ref_.texts.size(); ++i) {
    EXPECT_LE(r.token_counts[i], max_seq);
    if (ep_->tokenizer().encode(ref_.texts[i]).ids.size() > static_cast<size_t>(max_seq))
      cut.push_back(static_cast<int>(i));
  }
  ASSERT_FALSE(cut.empty());
  EXPECT_EQ(r.truncated, cut);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0],
            fmt::format("{} of {} texts were truncated to {} tokens", cut.size(), ref_.texts.size(), max_seq));
  // A lower limit of the caller's wins; one over the model's positions is refused.
  EmbeddingOptions shorter;
  shorter.max_length = 4;
  EncodedTexts enc = ep_->encode(ref_.texts, shorter);
  for (const auto& e : enc.encodings) EXPECT_LE(e.ids.size(), 4u);
  EmbeddingOptions longer;
  longer.max_length = ep_->encoder().max_input_tokens() + 1;
  EXPECT_THROW(ep_->encode(ref_.texts, longer), Error);
  EmbeddingOptions refuse;
  refuse.truncate = false;
  EXPECT_THROW(ep_->embed(ref_.texts, refuse), Error);
}

TEST_P(SentenceTransformersParity, UnknownPromptNameListsThePrompts) {
  EmbeddingOptions o;
  o.prompt_name = "nope";
  try {
    ep_->embed(ref_.texts, o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("query"), std::string::npos) << e.what();
  }
  o.prompt = "x";
  o.prompt_name = "query";
  EXPECT_THROW(ep_->embed(ref_.texts, o), Error);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SentenceTransformersParity, ::testing::Values("st-bert", "st-qwen3"), param_name);

TEST(SentenceTransformersModules, StBertRunsItsDenseModule) {
  auto ep = EmbeddingEndpoint::load(fixture("st-bert"), test_device(), DType::F32);
  ASSERT_EQ(ep->modules().dense().size(), 1u);
  EXPECT_EQ(ep->modules().dense()[0].activation, DenseActivation::Tanh);
  EXPECT_EQ(ep->modules().output_dim(), 16);
  EXPECT_EQ(ep->embed({"Hello world"}, {}).embeddings.size(1), 16);
  // The empty text is [CLS] [SEP], as sentence-transformers tokenizes it.
  EncodedTexts enc = ep->encode({""}, {});
  EXPECT_EQ(enc.encodings[0].ids, (std::vector<int32_t>{2, 3}));
}

TEST(SentenceTransformersModules, DecoderEmbeddingModelLoadsItsDecoder) {
  auto ep = EmbeddingEndpoint::load(fixture("st-qwen3"), test_device(), DType::F32);
  EXPECT_EQ(ep->kind().model_type, "qwen3");
  EXPECT_EQ(ep->default_pooling(), PoolMode::LastToken);
  EXPECT_EQ(ep->encoder().hidden_size(), 64);
  // No special tokens: an empty text has nothing to pool.
  try {
    ep->embed({"a", ""}, {});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidArgument);
    EXPECT_NE(std::string(e.what()).find("text 1 has no tokens"), std::string::npos) << e.what();
  }
}

TEST(SentenceTransformersModules, DecoderBf16CloseToF32Reference) {
  const std::string dir = fixture("st-qwen3");
  Reference ref = load_reference(dir);
  auto ep = EmbeddingEndpoint::load(dir, test_device(), DType::BF16);
  Tensor got = ep->embed(ref.texts, {}).embeddings, want = ref.file->tensor("embeddings");
  const int64_t D = want.size(1);
  for (int64_t i = 0; i < want.size(0); ++i) {
    double dot = 0;  // both rows are unit vectors
    for (int64_t k = 0; k < D; ++k) dot += double(got.data<float>()[i * D + k]) * want.data<float>()[i * D + k];
    EXPECT_GE(dot, 0.99) << "text " << i;
  }
}

class TempFolder {
 public:
  TempFolder() {
    path_ = fs::temp_directory_path() / ("ia-st-parity-" + std::to_string(::getpid()) + "-" + std::to_string(next_++));
    fs::create_directories(path_);
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
  static inline int next_ = 0;
};

// A Qwen3-Embedding checkpoint is saved from Qwen3Model: its names lack "model." and it has
// no LM head, which an untied config would otherwise ask for.
TEST(SentenceTransformersModules, DecoderCheckpointWithoutTheBasePrefixOrAHead) {
  const std::string src = fixture("st-qwen3");
  TempFolder tmp;
  fs::copy(src, tmp.str(), fs::copy_options::recursive);
  auto file = SafetensorsFile::open(src + "/model.safetensors");
  std::vector<std::pair<std::string, Tensor>> renamed;
  for (const std::string& name : file->names()) {
    ASSERT_EQ(name.rfind("model.", 0), 0u) << name;
    renamed.emplace_back(name.substr(6), file->tensor(name));
  }
  write_safetensors(tmp.str() + "/model.safetensors", renamed);
  Reference ref = load_reference(src);
  auto ep = EmbeddingEndpoint::load(tmp.str(), test_device(), DType::F32);
  EXPECT_LE(max_err(ep->embed(ref.texts, {}).embeddings, ref.file->tensor("embeddings")), ref.atol);
  nlohmann::json config;
  std::ifstream(src + "/config.json") >> config;
  config["tie_word_embeddings"] = false;
  std::ofstream(tmp.str() + "/config.json") << config.dump();
  ep = EmbeddingEndpoint::load(tmp.str(), test_device(), DType::F32);
  EXPECT_LE(max_err(ep->embed(ref.texts, {}).embeddings, ref.file->tensor("embeddings")), ref.atol);
}

// No max_seq_length: the smaller of the positions and the tokenizer's model_max_length, as
// sentence-transformers' Transformer module takes.
TEST(SentenceTransformersModules, WithoutMaxSeqLengthTheTokenizersModelMaxLength) {
  const std::string src = fixture("bert");
  TempFolder tmp;
  fs::copy(src, tmp.str(), fs::copy_options::recursive);
  auto ep = EmbeddingEndpoint::load(tmp.str(), test_device(), DType::F32);
  EXPECT_EQ(ep->max_length(), 128);  // both 128
  nlohmann::json tc;
  std::ifstream(src + "/tokenizer_config.json") >> tc;
  tc["model_max_length"] = 6;
  std::ofstream(tmp.str() + "/tokenizer_config.json") << tc.dump();
  ep = EmbeddingEndpoint::load(tmp.str(), test_device(), DType::F32);
  EXPECT_EQ(ep->max_length(), 6);
  EXPECT_EQ(ep->embed({"one two three four five six seven"}, {}).token_counts[0], 6);
  std::ofstream(tmp.str() + "/sentence_bert_config.json") << R"({"max_seq_length": 9})";  // wins
  ep = EmbeddingEndpoint::load(tmp.str(), test_device(), DType::F32);
  EXPECT_EQ(ep->max_length(), 9);
}

TEST(SentenceTransformersModules, DecoderWithoutSentenceTransformersFilesIsRefused) {
  const std::string src = fixture("st-qwen3");
  TempFolder tmp;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(src + "/" + f, tmp.str() + "/" + f);
  try {
    EmbeddingEndpoint::load(tmp.str(), test_device(), DType::F32);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("sentence-transformers"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ia
