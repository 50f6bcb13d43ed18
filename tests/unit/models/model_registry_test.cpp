#include <gtest/gtest.h>

#include "core/error.h"
#include "models/model_registry.h"

namespace ia {
namespace {

TEST(ModelRegistry, ClassifiesBertFamilyAndTasks) {
  ModelKind k = classify_model({{"model_type", "bert"}, {"architectures", {"BertModel"}}}, "cfg");
  EXPECT_EQ(k.family, "bert");
  EXPECT_EQ(k.task, "feature-extraction");
  EXPECT_EQ(k.modality, "text");
  EXPECT_TRUE(k.implemented);
  EXPECT_EQ(classify_model({{"model_type", "bert"}, {"architectures", {"BertForMaskedLM"}}}, "cfg").task, "fill-mask");
  EXPECT_EQ(classify_model({{"model_type", "distilbert"}}, "cfg").architecture, "DistilBertModel");
  EXPECT_EQ(classify_model({{"model_type", "xlm-roberta"}}, "cfg").family, "bert");
}

TEST(ModelRegistry, RecognisesLaterFamiliesAsNotImplemented) {
  ModelKind g = classify_model({{"model_type", "t5"}}, "cfg");
  EXPECT_EQ(g.family, "t5");
  EXPECT_EQ(g.task, "text2text-generation");
  EXPECT_FALSE(g.implemented);
  for (const char* t : {"gpt2", "llama", "qwen2", "qwen3", "mistral"}) {
    ModelKind d = classify_model({{"model_type", t}}, "cfg");
    EXPECT_EQ(d.task, "text-generation") << t;
    EXPECT_TRUE(d.implemented) << t;
  }
  EXPECT_EQ(classify_model({{"model_type", "whisper"}}, "cfg").modality, "audio");
  EXPECT_EQ(classify_model({{"model_type", "vit"}}, "cfg").modality, "vision");
  EXPECT_EQ(classify_model({{"model_type", "clip"}}, "cfg").modality, "multimodal");
}

TEST(ModelRegistry, UnknownOrMissingTypeIsAClearError) {
  try {
    classify_model({{"model_type", "frobnicator"}}, "/m/config.json");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
    std::string msg = e.what();
    EXPECT_NE(msg.find("frobnicator"), std::string::npos);
    EXPECT_NE(msg.find("/m/config.json"), std::string::npos);
    EXPECT_NE(msg.find("bert"), std::string::npos);  // lists the known types
  }
  EXPECT_THROW(classify_model({{"hidden_size", 3}}, "cfg"), Error);
  EXPECT_THROW(classify_model(nlohmann::json::array(), "cfg"), Error);
}

}  // namespace
}  // namespace ia
