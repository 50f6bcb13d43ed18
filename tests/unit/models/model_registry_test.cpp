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

TEST(ModelRegistry, ClassifiesEachFamilyWithItsTaskAndModality) {
  ModelKind g = classify_model({{"model_type", "detr"}}, "cfg");
  EXPECT_EQ(g.family, "detr");
  EXPECT_EQ(g.task, "object-detection");
  EXPECT_TRUE(g.implemented);
  EXPECT_FALSE(has_encoder_decoder(g));
  for (const char* t : {"gpt2", "llama", "qwen2", "qwen3", "mistral"}) {
    ModelKind d = classify_model({{"model_type", t}}, "cfg");
    EXPECT_EQ(d.task, "text-generation") << t;
    EXPECT_TRUE(d.implemented) << t;
  }
  EXPECT_EQ(classify_model({{"model_type", "whisper"}}, "cfg").modality, "audio");
  EXPECT_EQ(classify_model({{"model_type", "vit"}}, "cfg").modality, "vision");
  EXPECT_EQ(classify_model({{"model_type", "clip"}}, "cfg").modality, "multimodal");
}

TEST(ModelRegistry, Wav2Vec2IsACtcSpeechModel) {
  ModelKind k = classify_model({{"model_type", "wav2vec2"}, {"architectures", {"Wav2Vec2ForCTC"}}}, "cfg");
  EXPECT_EQ(k.family, "wav2vec2");
  EXPECT_EQ(k.architecture, "Wav2Vec2ForCTC");
  EXPECT_EQ(k.task, "automatic-speech-recognition");
  EXPECT_EQ(k.modality, "audio");
  EXPECT_TRUE(k.implemented);
  EXPECT_TRUE(has_ctc_model(k));
  EXPECT_FALSE(has_encoder(k));
  EXPECT_FALSE(has_causal_lm(k));
  EXPECT_NO_THROW(require_ctc_model(k, "/m"));
  // Other heads of the family are not CTC models; nor is any other family.
  ModelKind cls =
      classify_model({{"model_type", "wav2vec2"}, {"architectures", {"Wav2Vec2ForSequenceClassification"}}}, "cfg");
  EXPECT_THROW(require_ctc_model(cls, "/m"), Error);
  ModelKind bert = classify_model({{"model_type", "bert"}}, "cfg");
  EXPECT_FALSE(has_ctc_model(bert));
  try {
    require_ctc_model(bert, "/m");
    FAIL() << "bert accepted as a CTC model";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
}

TEST(ModelRegistry, WhisperIsASpeechEncoderDecoderNotATextGenerator) {
  ModelKind k =
      classify_model({{"model_type", "whisper"}, {"architectures", {"WhisperForConditionalGeneration"}}}, "cfg");
  EXPECT_EQ(k.family, "whisper");
  EXPECT_EQ(k.task, "automatic-speech-recognition");
  EXPECT_TRUE(k.implemented);
  EXPECT_TRUE(has_encoder_decoder(k));
  EXPECT_FALSE(has_ctc_model(k));
  // Its decoder generates from audio, not from a text prompt: `generate` refuses it.
  try {
    require_text_generator(k, "/m");
    FAIL() << "whisper accepted as a text generator";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
}

TEST(ModelRegistry, T5IsAnEncoderDecoderThatGeneratesText) {
  for (const char* t : {"t5", "mt5"}) {
    ModelKind k = classify_model({{"model_type", t}}, "cfg");
    EXPECT_EQ(k.family, "t5") << t;
    EXPECT_EQ(k.task, "text2text-generation") << t;
    EXPECT_TRUE(k.implemented) << t;
    EXPECT_TRUE(has_encoder_decoder(k)) << t;
    EXPECT_FALSE(has_causal_lm(k)) << t;
    EXPECT_NO_THROW(require_text_generator(k, "/m"));
    EXPECT_THROW(require_causal_lm(k, "/m"), Error);
  }
  EXPECT_EQ(
      classify_model({{"model_type", "t5"}, {"architectures", {"T5ForConditionalGeneration"}}}, "cfg").architecture,
      "T5ForConditionalGeneration");
  try {
    require_text_generator(classify_model({{"model_type", "bert"}}, "cfg"), "/m");
    FAIL() << "bert generates text?";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Unsupported);
  }
}

TEST(ModelRegistry, VisionFamilies) {
  ModelKind v = classify_model({{"model_type", "vit"}, {"architectures", {"ViTForImageClassification"}}}, "cfg");
  EXPECT_EQ(v.family, "vit");
  EXPECT_EQ(v.task, "image-classification");
  EXPECT_TRUE(v.implemented);
  EXPECT_TRUE(has_image_classifier(v));
  EXPECT_FALSE(has_image_text_model(v));
  EXPECT_EQ(classify_model({{"model_type", "vit"}}, "cfg").architecture, "ViTForImageClassification");
  ModelKind c = classify_model({{"model_type", "clip"}}, "cfg");
  EXPECT_TRUE(c.implemented);
  EXPECT_TRUE(has_image_text_model(c));
  EXPECT_FALSE(has_image_classifier(c));
  EXPECT_THROW(require_image_classifier(c, "/m"), Error);
  EXPECT_THROW(require_image_text_model(classify_model({{"model_type", "bert"}}, "cfg"), "/m"), Error);
  ModelKind d = classify_model({{"model_type", "detr"}}, "cfg");
  EXPECT_TRUE(d.implemented);
  EXPECT_EQ(d.architecture, "DetrForObjectDetection");
  EXPECT_EQ(d.task, "object-detection");
  EXPECT_TRUE(has_object_detector(d));
  EXPECT_FALSE(has_object_detector(v));
  EXPECT_THROW(require_object_detector(c, "/m"), Error);
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
