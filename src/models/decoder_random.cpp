#include "models/decoder_random.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/progress.h"
#include "core/tensor.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "models/decoder_config.h"
#include "tokenizers/byte_level.h"
#include "tokenizers/unicode.h"

namespace ia {

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

Json preset_impl(const std::string& like) {
  if (like == "llama-1b") {  // TinyLlama-1.1B
    return {{"model_type", "llama"},
            {"architectures", {"LlamaForCausalLM"}},
            {"hidden_size", 2048},
            {"num_hidden_layers", 22},
            {"num_attention_heads", 32},
            {"num_key_value_heads", 4},
            {"intermediate_size", 5632},
            {"vocab_size", 32000},
            {"max_position_embeddings", 2048},
            {"rms_norm_eps", 1e-5},
            {"rope_theta", 10000.0},
            {"hidden_act", "silu"},
            {"tie_word_embeddings", false},
            {"bos_token_id", 1},
            {"eos_token_id", 2}};
  }
  if (like == "qwen2-0.5b") {
    return {{"model_type", "qwen2"},
            {"architectures", {"Qwen2ForCausalLM"}},
            {"hidden_size", 896},
            {"num_hidden_layers", 24},
            {"num_attention_heads", 14},
            {"num_key_value_heads", 2},
            {"intermediate_size", 4864},
            {"vocab_size", 151936},
            {"max_position_embeddings", 32768},
            {"rms_norm_eps", 1e-6},
            {"rope_theta", 1000000.0},
            {"hidden_act", "silu"},
            {"tie_word_embeddings", true},
            {"bos_token_id", 1},
            {"eos_token_id", 2}};
  }
  if (like == "gpt2") {
    return {{"model_type", "gpt2"},
            {"architectures", {"GPT2LMHeadModel"}},
            {"n_embd", 768},
            {"n_layer", 12},
            {"n_head", 12},
            {"n_positions", 1024},
            {"vocab_size", 50257},
            {"layer_norm_epsilon", 1e-5},
            {"activation_function", "gelu_new"},
            {"tie_word_embeddings", true},
            {"bos_token_id", 1},
            {"eos_token_id", 2}};
  }
  if (fs::is_regular_file(like)) {
    std::ifstream f(like);
    try {
      return Json::parse(f);
    } catch (const Json::exception& e) {
      fail(ErrorKind::Corrupt, "{}: not valid JSON: {}", like, e.what());
    }
  }
  fail(ErrorKind::InvalidArgument, "--like must be a config.json file, llama-1b, qwen2-0.5b or gpt2; got \"{}\"", like);
}

// A byte-level BPE tokenizer covering `vocab` ids: <unk> <s> </s>, the 256
// bytes, then filler tokens ("t123") so every id the model can emit decodes.
Json make_tokenizer(int64_t vocab) {
  Json v = Json::object();
  v["<unk>"] = 0;
  v["<s>"] = 1;
  v["</s>"] = 2;
  int64_t id = 3;
  for (char32_t c : tok::bytes_to_unicode()) {  // the ByteLevel alphabet, one token per byte
    std::string s;
    tok::uni::append_utf8(s, c);
    v[s] = id++;
  }
  for (; id < vocab; ++id) v["t" + std::to_string(id)] = id;
  Json added = Json::array();
  int i = 0;
  for (const char* t : {"<unk>", "<s>", "</s>"})
    added.push_back({{"id", i++},
                     {"content", t},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  Json bl = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", bl},
          {"post_processor", bl},
          {"decoder", bl},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"vocab", v},
            {"merges", Json::array()}}}};
}

struct Rng {
  uint64_t s;
  // splitmix64: fast and good enough for weights that only need to be random-looking.
  uint64_t next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Uniform with the standard deviation of N(0, std).
  float uniform(float std) {
    return static_cast<float>((static_cast<double>(next() >> 11) * 0x1.0p-53 * 2 - 1) * std * 1.7320508);
  }
};

Tensor random_tensor(const Shape& shape, DType dtype, Rng& rng, float std, float constant = 0,
                     bool use_constant = false) {
  Tensor t = Tensor::empty(shape, dtype);
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const float v = use_constant ? constant : rng.uniform(std);
    if (dtype == DType::BF16)
      t.data<uint16_t>()[i] = f32_to_bf16(v);
    else
      t.data<float>()[i] = v;
  }
  return t;
}

}  // namespace

Json random_decoder_preset(const std::string& like) {
  return preset_impl(like);
}

RandomDecoderInfo write_random_decoder(Json cfg, DType dt, const std::string& out, uint64_t seed, int layers) {
  if (layers > 0) cfg[cfg.value("model_type", "") == "gpt2" ? "n_layer" : "num_hidden_layers"] = layers;
  if (dt != DType::BF16 && dt != DType::F32)
    fail(ErrorKind::InvalidArgument, "random-model: dtype must be f32 or bf16");
  cfg["torch_dtype"] = dt == DType::BF16 ? "bfloat16" : "float32";
  const std::string type = cfg.value("model_type", "");
  const bool gpt2 = type == "gpt2";
  if (!gpt2 && type != "llama" && type != "qwen2" && type != "qwen3" && type != "mistral")
    fail(ErrorKind::Unsupported, "random-model: model_type \"{}\" is not a supported decoder", type);
  auto geti = [&](const char* k, int64_t def) {
    return cfg.contains(k) && cfg[k].is_number() ? cfg[k].get<int64_t>() : def;
  };
  const int64_t H = gpt2 ? geti("n_embd", 0) : geti("hidden_size", 0),
                L = gpt2 ? geti("n_layer", 0) : geti("num_hidden_layers", 0);
  const int64_t NH = gpt2 ? geti("n_head", 0) : geti("num_attention_heads", 0),
                NKV = gpt2 ? NH : geti("num_key_value_heads", NH);
  const int64_t D = geti("head_dim", NH ? H / NH : 0), I = gpt2 ? geti("n_inner", 4 * H) : geti("intermediate_size", 0);
  const int64_t V = geti("vocab_size", 0), P = gpt2 ? geti("n_positions", 1024) : 0;
  if (H <= 0 || L <= 0 || NH <= 0 || NKV <= 0 || D <= 0 || I <= 0 || V < 259)
    fail(ErrorKind::InvalidArgument, "random-model: config sizes must be positive and vocab_size >= 259");
  const bool tied = cfg.value("tie_word_embeddings", gpt2);
  const bool qkv_bias = type == "qwen2" || cfg.value("attention_bias", false);
  // The limits a loader applies (sizes, layers, heads) hold here too, and every tensor is
  // built in memory before the file is written: refuse what cannot fit instead of bad_alloc.
  DecoderConfig::from(HfConfig::from_json(cfg, "random-model config"));
  const double params = static_cast<double>(L) * (4.0 * H * NH * D + 3.0 * H * I) + (tied ? 1.0 : 2.0) * V * H;
  const double bytes = params * static_cast<double>(dtype_size(dt));
  const double available =
      static_cast<double>(::sysconf(_SC_AVPHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
  if (bytes > available)
    fail(ErrorKind::InvalidArgument, "random-model: {:.1f} GB of weights do not fit the {:.1f} GB of free memory",
         bytes / 1e9, available / 1e9);

  // The tensors are listed first, so drawing them (longer than writing them) is a task of known size.
  struct PlannedTensor {
    std::string name;
    Shape shape;
    float std = 0, constant = 0;
    bool use_constant = false;
  };
  std::vector<PlannedTensor> plan;
  auto mat = [&](const std::string& n, Shape s) { plan.push_back({n, std::move(s), 0.02f, 0, false}); };
  auto ones = [&](const std::string& n, int64_t s) { plan.push_back({n, {s}, 0, 1.0f, true}); };
  auto zeros = [&](const std::string& n, int64_t s) { plan.push_back({n, {s}, 0, 0.0f, true}); };
  if (gpt2) {
    mat("transformer.wte.weight", {V, H});
    mat("transformer.wpe.weight", {P, H});
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = "transformer.h." + std::to_string(l) + ".";
      ones(p + "ln_1.weight", H), zeros(p + "ln_1.bias", H), ones(p + "ln_2.weight", H), zeros(p + "ln_2.bias", H);
      mat(p + "attn.c_attn.weight", {H, 3 * H}), zeros(p + "attn.c_attn.bias", 3 * H);
      mat(p + "attn.c_proj.weight", {H, H}), zeros(p + "attn.c_proj.bias", H);
      mat(p + "mlp.c_fc.weight", {H, I}), zeros(p + "mlp.c_fc.bias", I);
      mat(p + "mlp.c_proj.weight", {I, H}), zeros(p + "mlp.c_proj.bias", H);
    }
    ones("transformer.ln_f.weight", H), zeros("transformer.ln_f.bias", H);
  } else {
    mat("model.embed_tokens.weight", {V, H});
    for (int64_t l = 0; l < L; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      ones(p + "input_layernorm.weight", H), ones(p + "post_attention_layernorm.weight", H);
      mat(p + "self_attn.q_proj.weight", {NH * D, H}), mat(p + "self_attn.k_proj.weight", {NKV * D, H});
      mat(p + "self_attn.v_proj.weight", {NKV * D, H}), mat(p + "self_attn.o_proj.weight", {H, NH * D});
      if (qkv_bias) {
        mat(p + "self_attn.q_proj.bias", {NH * D}), mat(p + "self_attn.k_proj.bias", {NKV * D}),
            mat(p + "self_attn.v_proj.bias", {NKV * D});
      }
      if (type == "qwen3") ones(p + "self_attn.q_norm.weight", D), ones(p + "self_attn.k_norm.weight", D);
      mat(p + "mlp.gate_proj.weight", {I, H}), mat(p + "mlp.up_proj.weight", {I, H}),
          mat(p + "mlp.down_proj.weight", {H, I});
    }
    ones("model.norm.weight", H);
    if (!tied) mat("lm_head.weight", {V, H});
  }
  uint64_t total_bytes = 0;
  for (const auto& t : plan) total_bytes += static_cast<uint64_t>(shape_numel(t.shape)) * dtype_size(dt);
  ProgressTask drawing("generating random weights", total_bytes, ProgressUnit::Bytes);
  Rng rng{seed * 0x9e3779b97f4a7c15ull + 1};
  std::vector<std::pair<std::string, Tensor>> ts;
  for (const auto& t : plan) {
    ts.emplace_back(t.name, random_tensor(t.shape, dt, rng, t.std, t.constant, t.use_constant));
    drawing.advance(ts.back().second.nbytes());
  }
  drawing.finish();
  fs::create_directories(out);
  write_safetensors((fs::path(out) / "model.safetensors").string(), ts, {{"format", "pt"}});
  auto write_json = [&](const char* name, const Json& j) {
    const fs::path p = fs::path(out) / name, tmp = fs::path(out) / (std::string(name) + ".tmp");
    std::ofstream(tmp) << j.dump(2) << "\n";
    fs::rename(tmp, p);
  };
  write_json("config.json", cfg);
  write_json("generation_config.json", {{"bos_token_id", 1}, {"eos_token_id", 2}, {"do_sample", false}});
  write_json("tokenizer.json", make_tokenizer(V));
  write_json("tokenizer_config.json", {{"bos_token", "<s>"},
                                       {"eos_token", "</s>"},
                                       {"unk_token", "<unk>"},
                                       {"model_max_length", geti("max_position_embeddings", P)}});
  RandomDecoderInfo info{type, 0};
  for (const auto& [n, t] : ts) info.parameters += t.numel();
  return info;
}

}  // namespace ia
