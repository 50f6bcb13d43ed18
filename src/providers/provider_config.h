#pragma once
// A provider's configuration from a JSON object of the providers file, or from
// the environment alone (`--provider openai` with OPENAI_API_KEY set). Keys are
// read from environment variables or files, never from the file itself, so a
// providers file can be committed and shown; they are never logged.
//
//   {"type": "openai", "base_url": "https://…/v1",
//    "keys": [{"env": "OPENAI_API_KEY"}, {"file": "/run/secrets/openai"}],
//    "headers": {"OpenAI-Organization": "org-…"},
//    "timeouts": {"connect_s": 10, "first_byte_s": 120, "idle_s": 60, "total_s": 600},
//    "max_concurrency": 16, "max_queue": 1024, "max_retries": 2,
//    "breaker": {"failures": 5, "cooldown_s": 30}, "key_cooldown_s": 60,
//    "backoff": {"base_s": 0.5, "cap_s": 8, "max_hint_s": 60}, "embed_batch": 0,
//    "prices": {"gpt-4o-mini": {"input_per_million": 0.15, "output_per_million": 0.6},
//               "whisper-1": {"audio_per_minute": 0.006}, "*": {…}},
//    "budget_usd": 20, "budget_period": "total" | "month"}
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "providers/provider.h"

namespace ia::providers {

// Reads an environment variable (tests pass their own).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

// InvalidArgument naming the field for a malformed entry; NotFound for a key file that cannot
// be read. A type's conventional variables fill what the object leaves out (base URL, keys).
ProviderConfig provider_config_from_json(const std::string& name, const nlohmann::json& j, const EnvLookup& env);

// `type` alone, configured from its conventional environment variables (InvalidArgument for an
// unknown type).
ProviderConfig provider_config_from_env(const std::string& type, const EnvLookup& env);

}  // namespace ia::providers
