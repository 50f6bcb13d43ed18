// The provider types this build knows, their defaults, and the factory.
#include <functional>

#include "providers/anthropic_provider.h"
#include "providers/gemini_provider.h"
#include "providers/ollama_provider.h"
#include "providers/opea_provider.h"
#include "providers/openai_compatible.h"
#include "providers/provider.h"
#include "providers/tei_provider.h"
#include "providers/tgi_provider.h"

namespace ia::providers {

namespace {

struct TypeEntry {
  const char* type;
  ProviderDefaults defaults;
  std::function<std::unique_ptr<Provider>(const ProviderConfig&)> make;
};

template <typename T>
std::function<std::unique_ptr<Provider>(const ProviderConfig&)> maker() {
  return [](const ProviderConfig& c) { return std::make_unique<T>(c); };
}

const std::vector<TypeEntry>& types() {
  static const std::vector<TypeEntry> t = {
      {"openai",
       {"https://api.openai.com/v1", {"OPENAI_API_KEY"}, {"OPENAI_BASE_URL"}},
       maker<OpenAICompatibleProvider>()},
      {"anthropic",
       {"https://api.anthropic.com", {"ANTHROPIC_API_KEY"}, {"ANTHROPIC_BASE_URL"}},
       maker<AnthropicProvider>()},
      {"groq",
       {"https://api.groq.com/openai/v1", {"GROQ_API_KEY"}, {"GROQ_BASE_URL"}},
       maker<OpenAICompatibleProvider>()},
      {"ollama", {"http://127.0.0.1:11434", {"OLLAMA_API_KEY"}, {"OLLAMA_HOST"}}, maker<OllamaProvider>()},
      {"vllm", {"http://127.0.0.1:8000/v1", {"VLLM_API_KEY"}, {"VLLM_BASE_URL"}}, maker<OpenAICompatibleProvider>()},
      {"ovms", {"http://127.0.0.1:8000/v3", {"OVMS_API_KEY"}, {"OVMS_BASE_URL"}}, maker<OpenAICompatibleProvider>()},
      {"tgi", {"http://127.0.0.1:3000", {"HF_TOKEN"}, {"TGI_BASE_URL"}}, maker<TgiProvider>()},
      {"tei", {"http://127.0.0.1:8080", {"HF_TOKEN"}, {"TEI_BASE_URL"}}, maker<TeiProvider>()},
      {"gemini",
       {"https://generativelanguage.googleapis.com/v1beta", {"GEMINI_API_KEY", "GOOGLE_API_KEY"}, {"GEMINI_BASE_URL"}},
       maker<GeminiProvider>()},
      {"opea", {"http://127.0.0.1:8888", {}, {"OPEA_BASE_URL"}}, maker<OpeaProvider>()},
  };
  return t;
}

}  // namespace

std::unique_ptr<Provider> make_provider(const ProviderConfig& config) {
  for (const auto& e : types())
    if (config.type == e.type) return e.make(config);
  std::string known;
  for (const auto& t : provider_types()) known += (known.empty() ? "" : ", ") + t;
  fail(ErrorKind::InvalidArgument, "provider `{}`: unknown type `{}` (known: {})", config.name, config.type, known);
}

std::vector<std::string> provider_types() {
  std::vector<std::string> out;
  for (const auto& e : types()) out.push_back(e.type);
  return out;
}

ProviderDefaults provider_defaults(const std::string& type) {
  for (const auto& e : types())
    if (type == e.type) return e.defaults;
  return {};
}

}  // namespace ia::providers
