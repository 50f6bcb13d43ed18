// libFuzzer target for the config.json loader: the bounded JSON parse
// (read_json_file's limits), HfConfig and the two config readers built on it
// (BertConfig, DecoderConfig). Any input must either load into sizes within the
// documented bounds or throw an ia::Error of a user kind; anything else (another
// exception, Internal, a crash or a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/bounded_json.h"
#include "core/error.h"
#include "formats/hf_config.h"
#include "models/decoder_config.h"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

void check_user_error(const ia::Error& e) {
  check(e.kind() != ia::ErrorKind::Internal);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ia::JsonLimits limits;
  limits.reject_duplicate_keys = true;
  ia::HfConfig cfg;
  try {
    cfg = ia::HfConfig::from_json(
        ia::parse_json_bounded(std::string_view(reinterpret_cast<const char*>(data), size), "config.json", limits),
        "config.json");
  } catch (const ia::Error& e) {
    check_user_error(e);
    return 0;
  }
  try {
    const ia::DecoderConfig c = ia::DecoderConfig::from(cfg);
    check(c.num_layers > 0 && c.num_layers <= ia::kMaxConfigLayers);
    check(c.layer_window.size() == static_cast<size_t>(c.num_layers));
    check(c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0);
    check(c.head_dim > 0 && c.num_heads * c.head_dim <= ia::kMaxConfigDimension);
    check(c.vocab_size > 0 && c.vocab_size <= ia::kMaxConfigVocabSize);
    check(c.norm_eps >= 0);
    for (int64_t w : c.layer_window) check(w >= 0);
  } catch (const ia::Error& e) {
    check_user_error(e);
  }
  try {
    const ia::BertConfig b = ia::BertConfig::from(cfg);
    check(b.num_hidden_layers > 0 && b.num_hidden_layers <= ia::kMaxConfigLayers);
    check(b.hidden_size % b.num_attention_heads == 0 && b.layer_norm_eps > 0);
    check(b.pad_token_id >= 0 && b.pad_token_id < b.vocab_size);
  } catch (const ia::Error& e) {
    check_user_error(e);
  }
  return 0;
}
