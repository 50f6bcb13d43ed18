// libFuzzer target: input = a chat template. Parsing and rendering (with a
// fixed conversation, tools and special tokens) must either succeed or throw
// ia::Error; never crash, hang or exhaust memory. Tight render limits keep
// every input fast: loops, recursion and output are bounded by the renderer.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizers/chat_template/chat_template.h"

namespace {

const nlohmann::ordered_json& messages() {
  static const auto m = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi \u00e9 \ud83d\ude00"},
    {"role": "assistant", "content": "<think>x</think>Hello", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": {"a": 1, "b": [true, null, 1.5]}}}]},
    {"role": "tool", "content": "{\"ok\": 1}"},
    {"role": "user", "content": [{"type": "text", "text": "part"}, {"type": "image"}]}
  ])");
  return m;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    auto ct = ia::tok::ChatTemplate::from_string(source, {{"bos_token", "<s>"}, {"eos_token", "</s>"}});
    ia::tok::ChatRenderOptions o;
    o.add_generation_prompt = size % 2 == 0;
    o.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {"name": "f", "parameters": {}}}])");
    o.now = 0;
    o.max_steps = 20'000;
    o.max_output_bytes = 1 << 20;
    (void)ct.render(messages(), o);
  } catch (const ia::Error&) {
  }
  return 0;
}
