#include "formats/hf_config.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "unit/formats/formats_test_util.h"

namespace ia {
namespace {

using test::expect_error;
using test::TempDir;
using test::write_bytes;

const std::string kBert = std::string(IA_FIXTURES_DIR) + "/models/bert";

TEST(HfConfig, LoadsBertFixture) {
  HfConfig c = HfConfig::load(kBert);
  EXPECT_EQ(c.model_type(), "bert");
  EXPECT_EQ(c.architectures(), (std::vector<std::string>{"BertModel"}));
  EXPECT_EQ(c.get_int("hidden_size", 0), 32);
  EXPECT_EQ(c.require_int("vocab_size"), 800);
  EXPECT_DOUBLE_EQ(c.get_float("layer_norm_eps", 0), 1e-12);
  EXPECT_EQ(c.get_string("hidden_act", ""), "gelu");
  EXPECT_TRUE(c.get_bool("tie_word_embeddings", false));
  EXPECT_FALSE(c.has("bos_token_id"));  // null counts as absent
  EXPECT_EQ(c.get_int("bos_token_id", -1), -1);
  EXPECT_EQ(c.get_int("absent", 7), 7);
  EXPECT_TRUE(c.json().contains("transformers_version"));
  EXPECT_NE(c.path().find("config.json"), std::string::npos);

  BertConfig b = BertConfig::from(c);
  EXPECT_EQ(b.model_type, "bert");
  EXPECT_EQ(b.vocab_size, 800);
  EXPECT_EQ(b.hidden_size, 32);
  EXPECT_EQ(b.num_hidden_layers, 2);
  EXPECT_EQ(b.num_attention_heads, 4);
  EXPECT_EQ(b.head_dim(), 8);
  EXPECT_EQ(b.intermediate_size, 64);
  EXPECT_EQ(b.hidden_act, "gelu");
  EXPECT_EQ(b.max_position_embeddings, 128);
  EXPECT_EQ(b.type_vocab_size, 2);
  EXPECT_DOUBLE_EQ(b.layer_norm_eps, 1e-12);
  EXPECT_EQ(b.pad_token_id, 0);
  EXPECT_EQ(b.position_embedding_type, "absolute");
  EXPECT_FALSE(b.padding_offset_positions);
  EXPECT_EQ(b.position_offset(), 0);
}

TEST(HfConfig, FileErrors) {
  TempDir dir;
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::NotFound, {dir.path() + ": no config.json"});
  write_bytes(dir.file("config.json"), "{\n  \"a\": 1,\n  \"b\": }\n");
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::Corrupt, {dir.file("config.json"), "line 3"});
  write_bytes(dir.file("config.json"), "[1, 2]");
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::Corrupt, {dir.file("config.json"), "not an object"});
  write_bytes(dir.file("config.json"), "");
  expect_error([&] { HfConfig::load(dir.path()); }, ErrorKind::Corrupt, {dir.file("config.json")});
}

TEST(HfConfig, TypedGetters) {
  HfConfig c = HfConfig::from_json(
      nlohmann::json::parse(
          R"({"i": 3, "f": 2.5, "fi": 512.0, "s": "x", "b": true, "n": null, "big": 18446744073709551615,
                               "text_config": {"hidden_size": 16}})"),
      "cfg.json");
  EXPECT_EQ(c.get_int("i", 0), 3);
  EXPECT_EQ(c.get_int("fi", 0), 512);
  EXPECT_DOUBLE_EQ(c.get_float("i", 0), 3.0);
  EXPECT_DOUBLE_EQ(c.get_float("f", 0), 2.5);
  EXPECT_EQ(c.get_string("s", ""), "x");
  EXPECT_TRUE(c.get_bool("b", false));
  EXPECT_FALSE(c.has("n"));
  EXPECT_EQ(c.get_int("n", 9), 9);
  expect_error([&] { c.get_int("f", 0); }, ErrorKind::Corrupt, {"cfg.json", "'f'", "not an integer"});
  expect_error([&] { c.get_int("s", 0); }, ErrorKind::Corrupt, {"cfg.json", "'s'"});
  expect_error([&] { c.get_int("big", 0); }, ErrorKind::Corrupt, {"cfg.json", "'big'"});
  expect_error([&] { c.get_float("s", 0); }, ErrorKind::Corrupt, {"cfg.json", "'s'", "not a number"});
  expect_error([&] { c.get_string("i", ""); }, ErrorKind::Corrupt, {"cfg.json", "'i'", "not a string"});
  expect_error([&] { c.get_bool("i", false); }, ErrorKind::Corrupt, {"cfg.json", "'i'"});
  expect_error([&] { c.require_int("hidden_size"); }, ErrorKind::Corrupt,
               {"cfg.json", "missing required key 'hidden_size'"});
  expect_error([&] { c.require_string("absent"); }, ErrorKind::Corrupt, {"cfg.json", "'absent'"});
  auto sub = c.sub("text_config");
  ASSERT_TRUE(sub.has_value());
  EXPECT_EQ(sub->require_int("hidden_size"), 16);
  EXPECT_EQ(sub->path(), "cfg.json:text_config");
  expect_error([&] { sub->require_int("vocab_size"); }, ErrorKind::Corrupt, {"cfg.json:text_config", "vocab_size"});
  EXPECT_FALSE(c.sub("vision_config").has_value());
  expect_error([&] { c.sub("s"); }, ErrorKind::Corrupt, {"cfg.json", "'s'"});
  EXPECT_TRUE(c.model_type().empty());
  EXPECT_TRUE(c.architectures().empty());
  expect_error([&] { HfConfig::from_json(nlohmann::json::array(), "x.json"); }, ErrorKind::Corrupt, {"x.json"});
}

HfConfig cfg(const std::string& text) {
  return HfConfig::from_json(nlohmann::json::parse(text), "DIR/config.json");
}

TEST(BertConfig, DistilBertAliases) {
  BertConfig b = BertConfig::from(cfg(R"({"model_type": "distilbert", "vocab_size": 100, "dim": 64, "n_layers": 3,
      "n_heads": 4, "hidden_dim": 256, "activation": "gelu", "max_position_embeddings": 64, "pad_token_id": 0,
      "sinusoidal_pos_embds": false})"));
  EXPECT_EQ(b.model_type, "distilbert");
  EXPECT_EQ(b.hidden_size, 64);
  EXPECT_EQ(b.num_hidden_layers, 3);
  EXPECT_EQ(b.num_attention_heads, 4);
  EXPECT_EQ(b.intermediate_size, 256);
  EXPECT_EQ(b.hidden_act, "gelu");
  EXPECT_EQ(b.type_vocab_size, 0);
  EXPECT_EQ(b.max_position_embeddings, 64);
  EXPECT_FALSE(b.padding_offset_positions);
  EXPECT_FALSE(b.sinusoidal_positions);
}

TEST(BertConfig, RobertaPaddingOffset) {
  BertConfig b = BertConfig::from(cfg(R"({"model_type": "roberta", "vocab_size": 50, "hidden_size": 8,
      "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 34,
      "pad_token_id": 1, "type_vocab_size": 1, "layer_norm_eps": 1e-05, "hidden_act": "gelu"})"));
  EXPECT_TRUE(b.padding_offset_positions);
  EXPECT_EQ(b.position_offset(), 2);
  EXPECT_EQ(b.type_vocab_size, 1);
  EXPECT_DOUBLE_EQ(b.layer_norm_eps, 1e-5);
}

TEST(BertConfig, Validation) {
  const std::string base = R"("vocab_size": 50, "num_hidden_layers": 1, "intermediate_size": 16)";
  expect_error([&] { BertConfig::from(cfg("{" + base + R"(, "hidden_size": 30, "num_attention_heads": 4})")); },
               ErrorKind::Corrupt, {"DIR/config.json", "hidden_size 30 is not divisible by num_attention_heads 4"});
  expect_error([&] { BertConfig::from(cfg("{" + base + R"(, "hidden_size": 32, "num_attention_heads": 0})")); },
               ErrorKind::Corrupt, {"DIR/config.json", "num_attention_heads must be positive"});
  expect_error([&] { BertConfig::from(cfg("{" + base + R"(, "hidden_size": -8, "num_attention_heads": 2})")); },
               ErrorKind::Corrupt, {"hidden_size must be positive"});
  expect_error([&] { BertConfig::from(cfg("{" + base + R"(, "num_attention_heads": 2})")); }, ErrorKind::Corrupt,
               {"DIR/config.json", "missing required key 'hidden_size'"});
  expect_error(
      [&] {
        BertConfig::from(cfg(R"({"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 1,
      "intermediate_size": 16})"));
      },
      ErrorKind::Corrupt, {"missing required key 'vocab_size'"});
  expect_error(
      [&] {
        BertConfig::from(cfg("{" + base + R"(, "hidden_size": 8, "num_attention_heads": 2, "pad_token_id": 50})"));
      },
      ErrorKind::Corrupt, {"pad_token_id 50"});
  expect_error(
      [&] {
        BertConfig::from(cfg("{" + base + R"(, "hidden_size": 8, "num_attention_heads": 2, "layer_norm_eps": 0})"));
      },
      ErrorKind::Corrupt, {"layer_norm_eps"});
  expect_error([&] { BertConfig::from(cfg("{" + base + R"(, "hidden_size": "8", "num_attention_heads": 2})")); },
               ErrorKind::Corrupt, {"'hidden_size'", "not an integer"});
}

TEST(SentenceTransformer, BertFixture) {
  auto st = load_sentence_transformer_config(kBert);
  ASSERT_TRUE(st.has_value());
  ASSERT_TRUE(st->pooling.has_value());
  EXPECT_EQ(*st->pooling, PoolMode::Mean);
  EXPECT_STREQ(pool_mode_name(*st->pooling), "mean");
  EXPECT_TRUE(st->normalize);
  EXPECT_EQ(st->word_embedding_dimension, 32);
  EXPECT_EQ(st->module_types.size(), 3u);
  EXPECT_TRUE(st->dense_paths.empty());
}

TEST(SentenceTransformer, AbsentAndVariants) {
  TempDir dir;
  EXPECT_FALSE(load_sentence_transformer_config(dir.path()).has_value());

  std::filesystem::create_directories(dir.file("1_Pooling"));
  write_bytes(dir.file("1_Pooling/config.json"),
              R"({"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false})");
  auto st = load_sentence_transformer_config(dir.path());  // no modules.json: the default pooling folder
  ASSERT_TRUE(st && st->pooling);
  EXPECT_EQ(*st->pooling, PoolMode::Cls);
  EXPECT_FALSE(st->normalize);

  write_bytes(dir.file("modules.json"),
              R"([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
                  {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])");
  st = load_sentence_transformer_config(dir.path());
  ASSERT_TRUE(st && st->pooling);
  EXPECT_FALSE(st->normalize);

  write_bytes(dir.file("1_Pooling/config.json"),
              R"({"pooling_mode_max_tokens": true, "pooling_mode_mean_tokens": true})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Unsupported,
               {"1_Pooling/config.json", "mean", "max"});
  write_bytes(dir.file("1_Pooling/config.json"), R"({"pooling_mode_max_tokens": false})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"1_Pooling/config.json", "no pooling mode"});
  write_bytes(dir.file("1_Pooling/config.json"), R"({"pooling_mode_max_tokens": tru})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt, {"1_Pooling/config.json"});
  write_bytes(dir.file("modules.json"), R"({"a": 1})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt, {"modules.json"});
}

TEST(SentenceTransformer, MaxSeqLengthPromptsAndModulePaths) {
  auto st = load_sentence_transformer_config(std::string(IA_FIXTURES_DIR) + "/models/st-bert");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->max_seq_length, 10);
  EXPECT_FALSE(st->do_lower_case);
  ASSERT_NE(st->prompt("query"), nullptr);
  EXPECT_EQ(*st->prompt("query"), "query: ");
  EXPECT_EQ(*st->prompt("passage"), "passage: ");
  EXPECT_EQ(st->prompt("nope"), nullptr);
  EXPECT_FALSE(st->default_prompt_name.has_value());  // null in the file
  ASSERT_EQ(st->module_paths.size(), 4u);
  EXPECT_EQ(st->module_paths[2], std::string(IA_FIXTURES_DIR) + "/models/st-bert/2_Dense");
  EXPECT_EQ(st->dense_paths, std::vector<std::string>{st->module_paths[2]});

  TempDir dir;
  std::filesystem::create_directories(dir.file("1_Pooling"));
  write_bytes(dir.file("1_Pooling/config.json"), R"({"pooling_mode_lasttoken": true})");
  write_bytes(dir.file("modules.json"),
              R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                  {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}])");
  write_bytes(dir.file("sentence_bert_config.json"), R"({"max_seq_length": 8192, "do_lower_case": true})");
  write_bytes(dir.file("config_sentence_transformers.json"),
              R"({"prompts": {"query": "Instruct: x\nQuery: ", "document": ""}, "default_prompt_name": "query"})");
  st = load_sentence_transformer_config(dir.path());
  ASSERT_TRUE(st && st->pooling);
  EXPECT_EQ(*st->pooling, PoolMode::LastToken);
  EXPECT_EQ(st->max_seq_length, 8192);
  EXPECT_TRUE(st->do_lower_case);
  EXPECT_EQ(st->default_prompt_name, "query");
  EXPECT_EQ(*st->prompt("query"), "Instruct: x\nQuery: ");
  EXPECT_EQ(*st->prompt("document"), "");

  write_bytes(dir.file("config_sentence_transformers.json"), R"({"prompts": {"a": "x"}, "default_prompt_name": "b"})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"config_sentence_transformers.json", "default_prompt_name", "\"b\""});
  write_bytes(dir.file("config_sentence_transformers.json"), R"({"prompts": {"a": 1}})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"config_sentence_transformers.json", "prompt \"a\"", "not a string"});
  write_bytes(dir.file("config_sentence_transformers.json"), R"({"prompts": ["x"]})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt, {"'prompts'"});
  write_bytes(dir.file("config_sentence_transformers.json"), "{}");
  write_bytes(dir.file("sentence_bert_config.json"), R"({"max_seq_length": 0})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"sentence_bert_config.json", "max_seq_length"});
  write_bytes(dir.file("sentence_bert_config.json"), R"({"max_seq_length": "long"})");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"sentence_bert_config.json", "'max_seq_length'"});
  write_bytes(dir.file("sentence_bert_config.json"), "{}");
  write_bytes(dir.file("modules.json"),
              R"([{"path": "", "type": "sentence_transformers.models.Transformer"},
                  {"path": "../1_Pooling", "type": "sentence_transformers.models.Pooling"}])");
  expect_error([&] { load_sentence_transformer_config(dir.path()); }, ErrorKind::Corrupt,
               {"modules.json", "outside the model folder"});
}

TEST(TokenizerConfigInfo, Reads) {
  auto t = load_tokenizer_config_info(kBert);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->model_max_length, 128);
  EXPECT_EQ(t->do_lower_case, true);
  EXPECT_EQ(t->tokenizer_class, "BertTokenizer");

  TempDir dir;
  EXPECT_FALSE(load_tokenizer_config_info(dir.path()).has_value());
  write_bytes(dir.file("tokenizer_config.json"), R"({"model_max_length": 1000000000000000019884624838656})");
  t = load_tokenizer_config_info(dir.path());
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->model_max_length.has_value());
  EXPECT_FALSE(t->do_lower_case.has_value());
}

}  // namespace
}  // namespace ia
