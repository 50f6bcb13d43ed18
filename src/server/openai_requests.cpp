#include "server/openai_requests.h"

#include <fmt/format.h>

#include "core/error.h"
#include "runtime/json_schema_grammar.h"
#include "server/api_error.h"
#include "server/request_json.h"

namespace ia::server {

namespace {

using Json = nlohmann::ordered_json;

const Json* present(const Json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string required_model(const Json& body) {
  auto model = string_field(body, "model", "model", 1024);
  if (!model) throw invalid_field("model", "`model` is required");
  return *model;
}

std::string optional_model(const Json& body) {
  return string_field(body, "model", "model", 1024).value_or("");
}

// A field this server cannot honour yet, refused unless it has its "off" value.
void refuse_unsupported(const Json& body, const char* key, const std::string& what) {
  if (present(body, key)) throw unsupported_field(key, what + " is not supported yet");
}

std::vector<std::string> stop_strings(const Json& body, const RequestLimits& limits) {
  const Json* v = present(body, "stop");
  if (!v) return {};
  std::vector<std::string> out;
  auto add = [&](const Json& s, const std::string& param) {
    if (!s.is_string()) throw invalid_field(param, "`stop` must be a string or a list of strings");
    const auto& text = s.get_ref<const std::string&>();
    if (text.empty()) throw invalid_field(param, "stop strings must not be empty");
    if (text.size() > limits.max_stop_bytes)
      throw invalid_field(param, fmt::format("stop strings must be at most {} bytes", limits.max_stop_bytes));
    out.push_back(text);
  };
  if (v->is_array()) {
    if (v->size() > limits.max_stop)
      throw invalid_field("stop", fmt::format("at most {} stop strings are allowed", limits.max_stop));
    for (size_t i = 0; i < v->size(); ++i) add((*v)[i], fmt::format("stop[{}]", i));
  } else {
    add(*v, "stop");
  }
  return out;
}

std::map<int32_t, float> logit_bias(const Json& body, const RequestLimits& limits) {
  const Json* v = present(body, "logit_bias");
  if (!v) return {};
  if (!v->is_object()) throw invalid_field("logit_bias", "`logit_bias` must be an object of token id -> bias");
  if (v->size() > limits.max_logit_bias)
    throw invalid_field("logit_bias", fmt::format("`logit_bias` may hold at most {} tokens", limits.max_logit_bias));
  std::map<int32_t, float> out;
  for (const auto& [key, bias] : v->items()) {
    const std::string param = "logit_bias." + key;
    int64_t id = -1;
    if (!key.empty() && key.size() <= 10 && key.find_first_not_of("0123456789") == std::string::npos)
      id = std::stoll(key);
    if (id < 0 || id > 0x7fffffff) throw invalid_field(param, "`logit_bias` keys must be token ids");
    if (!bias.is_number() || bias.get<double>() < -100 || bias.get<double>() > 100)
      throw invalid_field(param, "`logit_bias` values must be numbers in [-100, 100]");
    out[static_cast<int32_t>(id)] = bias.get<float>();
  }
  return out;
}

// A grammar from a JSON schema given in a request; a schema it cannot honour is a 400 naming
// the field and the keyword.
std::shared_ptr<const grammar::Grammar> schema_grammar(const Json& schema, const std::string& param) {
  try {
    return std::make_shared<const grammar::Grammar>(grammar::json_schema_grammar(schema));
  } catch (const Error& e) {
    throw invalid_field(param, e.what());
  }
}

// vLLM's guided decoding fields: guided_json (a schema) and guided_choice (one of some strings).
void guided_decoding(const Json& body, GenerationRequest& r) {
  if (const Json* schema = present(body, "guided_json")) {
    const Json parsed = schema->is_string() ? Json::parse(schema->get<std::string>(), nullptr, false) : *schema;
    if (parsed.is_discarded()) throw invalid_field("guided_json", "`guided_json` must be a JSON schema");
    r.grammar = schema_grammar(parsed, "guided_json");
  }
  if (const Json* choice = present(body, "guided_choice")) {
    if (r.grammar) throw invalid_field("guided_choice", "give one of `guided_json` and `guided_choice`");
    if (!choice->is_array() || choice->empty() || choice->size() > 1024)
      throw invalid_field("guided_choice", "`guided_choice` must be a list of 1 to 1024 strings");
    auto g = std::make_shared<grammar::Grammar>();
    const int32_t root = g->add_rule("choice");
    std::vector<grammar::Sequence> alts;
    for (const auto& c : *choice) {
      if (!c.is_string() || c.get<std::string>().empty())
        throw invalid_field("guided_choice", "`guided_choice` must be a list of non-empty strings");
      alts.push_back(grammar::Grammar::literal(c.get<std::string>()));
    }
    g->set_alternatives(root, alts);
    g->set_root(root);
    g->finish();
    r.grammar = std::move(g);
  }
}

// The fields chat and completions share. `max_tokens_key` is the one that wins when both are
// given (chat: max_completion_tokens).
void parse_generation_fields(const Json& body, const RequestLimits& limits, GenerationFields& f) {
  f.model = required_model(body);
  GenerationRequest& r = f.request;
  std::optional<int64_t> max_tokens = integer_field(body, "max_tokens", "max_tokens", 1, limits.max_new_tokens);
  if (auto m = integer_field(body, "max_completion_tokens", "max_completion_tokens", 1, limits.max_new_tokens))
    max_tokens = m;
  r.max_new_tokens = max_tokens;
  if (auto t = number_field(body, "temperature", "temperature", 0, 2)) r.temperature = static_cast<float>(*t);
  if (auto p = number_field(body, "top_p", "top_p", 0, 1)) {
    if (*p <= 0) throw invalid_field("top_p", "`top_p` must be in (0, 1]");
    r.top_p = static_cast<float>(*p);
  }
  // vLLM's extras.
  if (auto k = integer_field(body, "top_k", "top_k", -1, 1 << 30)) r.top_k = *k < 0 ? 0 : *k;
  if (auto p = number_field(body, "min_p", "min_p", 0, 1)) r.min_p = static_cast<float>(*p);
  if (auto p = number_field(body, "repetition_penalty", "repetition_penalty", 0, 10)) {
    if (*p <= 0) throw invalid_field("repetition_penalty", "`repetition_penalty` must be > 0");
    r.repetition_penalty = static_cast<float>(*p);
  }
  if (auto ignore = bool_field(body, "ignore_eos", "ignore_eos")) r.ignore_eos = *ignore;
  if (auto m = integer_field(body, "min_tokens", "min_tokens", 0, limits.max_new_tokens)) {
    if (max_tokens && *m > *max_tokens)
      throw invalid_field("min_tokens",
                          fmt::format("`min_tokens` ({}) must not exceed `max_tokens` ({})", *m, *max_tokens));
    r.min_tokens = *m;
  }
  guided_decoding(body, r);
  r.presence_penalty =
      static_cast<float>(number_field(body, "presence_penalty", "presence_penalty", -2, 2).value_or(0));
  r.frequency_penalty =
      static_cast<float>(number_field(body, "frequency_penalty", "frequency_penalty", -2, 2).value_or(0));
  if (auto seed =
          integer_field(body, "seed", "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()))
    r.seed = static_cast<uint64_t>(*seed);
  r.logit_bias = logit_bias(body, limits);
  r.stop = stop_strings(body, limits);
  f.n = static_cast<int>(integer_field(body, "n", "n", 1, limits.max_sequences).value_or(1));
  if (auto best_of = integer_field(body, "best_of", "best_of", 1, limits.max_sequences); best_of && *best_of > 1)
    throw unsupported_field("best_of", "best_of > 1 is not supported yet");
  f.stream = bool_field(body, "stream", "stream").value_or(false);
  if (const Json* so = present(body, "stream_options")) {
    if (!f.stream) throw invalid_field("stream_options", "`stream_options` is only allowed when `stream` is true");
    if (!so->is_object()) throw invalid_field("stream_options", "`stream_options` must be an object");
    f.include_usage = bool_field(*so, "include_usage", "stream_options.include_usage").value_or(false);
  }
}

// A message's content as the template takes it: a string, or text parts joined; with image
// parts, the parts as template items ({"type": "image"}, {"type": "text"}), the images' URLs
// appended to `images`.
Json message_content(const Json& content, const std::string& param, bool may_be_null, std::vector<ImagePart>& images,
                     size_t max_images) {
  if (content.is_null()) {
    if (!may_be_null) throw invalid_field(param, fmt::format("`{}` is required", param));
    return Json(nullptr);
  }
  if (content.is_string()) return content;
  if (!content.is_array()) throw invalid_field(param, fmt::format("`{}` must be a string or a list of parts", param));
  std::string text;
  Json items = Json::array();
  bool has_image = false;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string part_param = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) throw invalid_field(part_param, "content parts must be objects");
    const auto type = string_field(part, "type", part_param + ".type", 64);
    if (type == "image_url") {
      const Json* iu = present(part, "image_url");
      if (!iu) throw invalid_field(part_param + ".image_url", "an image_url part needs `image_url`");
      std::optional<std::string> url;
      if (iu->is_string()) {
        url = iu->get<std::string>();
      } else if (iu->is_object()) {
        url = string_field(*iu, "url", part_param + ".image_url.url", std::string::npos);
      }
      if (!url) throw invalid_field(part_param + ".image_url.url", "an image_url part needs `image_url.url`");
      if (images.size() >= max_images)
        throw invalid_field(part_param, fmt::format("at most {} images are allowed in one request", max_images));
      images.push_back(ImagePart{std::move(*url), part_param + ".image_url.url"});
      items.push_back(Json{{"type", "image"}});
      has_image = true;
      continue;
    }
    if (type != "text")
      throw unsupported_field(
          part_param + ".type",
          fmt::format("content parts of type \"{}\" are not supported (\"text\", \"image_url\")", type.value_or("")));
    const auto part_text = string_field(part, "text", part_param + ".text", std::string::npos);
    if (!part_text) throw invalid_field(part_param + ".text", "a text part needs `text`");
    items.push_back(Json{{"type", "text"}, {"text", *part_text}});
    if (!text.empty()) text += "\n";
    text += *part_text;
  }
  if (has_image) return items;
  return text;
}

Json chat_messages(const Json& body, const RequestLimits& limits, std::vector<ImagePart>& images) {
  const Json* v = present(body, "messages");
  if (!v) throw invalid_field("messages", "`messages` is required");
  if (!v->is_array()) throw invalid_field("messages", "`messages` must be a list");
  if (v->empty()) throw invalid_field("messages", "`messages` must not be empty");
  if (v->size() > limits.max_messages)
    throw invalid_field("messages", fmt::format("at most {} messages are allowed", limits.max_messages));
  Json out = Json::array();
  for (size_t i = 0; i < v->size(); ++i) {
    const Json& m = (*v)[i];
    const std::string param = fmt::format("messages[{}]", i);
    if (!m.is_object()) throw invalid_field(param, fmt::format("`{}` must be an object", param));
    const auto role = string_field(m, "role", param + ".role", 64);
    if (!role) throw invalid_field(param + ".role", fmt::format("`{}.role` is required", param));
    if (*role != "system" && *role != "developer" && *role != "user" && *role != "assistant" && *role != "tool")
      throw invalid_field(
          param + ".role",
          fmt::format("unknown role \"{}\" (expected system, developer, user, assistant or tool)", *role));
    Json msg = m;
    // The templates know "system"; OpenAI's newer name for it is "developer".
    if (*role == "developer") msg["role"] = "system";
    const bool has_tool_calls = m.contains("tool_calls") && !m["tool_calls"].is_null();
    msg["content"] = message_content(m.contains("content") ? m["content"] : Json(nullptr), param + ".content",
                                     *role == "assistant" && has_tool_calls, images, limits.max_images);
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

ChatCompletionRequest parse_chat_completion_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  ChatCompletionRequest r;
  parse_generation_fields(body, limits, r);
  r.messages = chat_messages(body, limits, r.images);
  r.logprobs = bool_field(body, "logprobs", "logprobs").value_or(false);
  const auto top = integer_field(body, "top_logprobs", "top_logprobs", 0, 20);
  if (top && !r.logprobs) throw invalid_field("top_logprobs", "`top_logprobs` needs `logprobs` set to true");
  if (r.logprobs) r.request.logprobs = static_cast<int>(top.value_or(0));
  if (const Json* rf = present(body, "response_format")) {
    const std::string type = rf->is_object() ? string_field(*rf, "type", "response_format.type", 64).value_or("") : "";
    if (type.empty()) throw invalid_field("response_format", "`response_format` must be an object with a `type`");
    if (r.request.grammar && type != "text")
      throw invalid_field("response_format", "give one of `response_format` and vLLM's `guided_*` fields");
    if (type == "json_object") {
      r.request.grammar = std::make_shared<const grammar::Grammar>(grammar::json_object_grammar());
    } else if (type == "json_schema") {
      const Json* js = present(*rf, "json_schema");
      if (!js || !js->is_object())
        throw invalid_field("response_format.json_schema", "`response_format.json_schema` must be an object");
      if (!string_field(*js, "name", "response_format.json_schema.name", 64))
        throw invalid_field("response_format.json_schema.name", "`response_format.json_schema.name` is required");
      const Json* schema = present(*js, "schema");
      r.request.grammar = schema_grammar(schema ? *schema : Json::object(), "response_format.json_schema.schema");
    } else if (type != "text") {
      throw invalid_field("response_format.type", fmt::format("unknown response_format type \"{}\" (expected text, "
                                                              "json_object or json_schema)",
                                                              type));
    }
  }
  r.tools = parse_tools(body);
  refuse_unsupported(body, "functions", "functions (function calling)");
  refuse_unsupported(body, "function_call", "function_call (function calling)");
  refuse_unsupported(body, "guided_regex", "guided_regex (constrained decoding)");
  refuse_unsupported(body, "guided_grammar", "guided_grammar (constrained decoding)");
  if (r.n > limits.max_sequences)
    throw invalid_field("n", fmt::format("at most {} sequences per request", limits.max_sequences));
  return r;
}

CompletionRequest parse_completion_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  CompletionRequest r;
  parse_generation_fields(body, limits, r);
  const Json* p = present(body, "prompt");
  if (!p) throw invalid_field("prompt", "`prompt` is required");
  if (p->is_string()) {
    r.prompts.push_back({p->get<std::string>(), {}, false});
  } else if (is_token_id_list(*p)) {
    r.prompts.push_back({{}, token_ids(*p, "prompt", limits.max_token_ids), true});
  } else if (p->is_array() && !p->empty()) {
    if (p->size() > static_cast<size_t>(limits.max_sequences))
      throw invalid_field("prompt", fmt::format("at most {} prompts per request", limits.max_sequences));
    for (size_t i = 0; i < p->size(); ++i) {
      const Json& e = (*p)[i];
      const std::string param = fmt::format("prompt[{}]", i);
      if (e.is_string())
        r.prompts.push_back({e.get<std::string>(), {}, false});
      else if (e.is_array())
        r.prompts.push_back({{}, token_ids(e, param, limits.max_token_ids), true});
      else
        throw invalid_field(param, "prompts must be strings or lists of token ids");
    }
  } else {
    throw invalid_field("prompt", "`prompt` must be a string, a list of strings, or token ids");
  }
  r.echo = bool_field(body, "echo", "echo").value_or(false);
  if (auto lp = integer_field(body, "logprobs", "logprobs", 0, 20)) r.request.logprobs = static_cast<int>(*lp);
  if (r.echo && r.request.logprobs >= 0)
    throw unsupported_field("echo", "echo with logprobs is not supported yet (no prompt logprobs)");
  refuse_unsupported(body, "suffix", "suffix (insertion)");
  refuse_unsupported(body, "response_format", "response_format (constrained decoding)");
  const auto sequences = static_cast<int64_t>(r.prompts.size()) * r.n;
  if (sequences > limits.max_sequences)
    throw invalid_field("n", fmt::format("{} prompts x n={} is more than {} sequences per request", r.prompts.size(),
                                         r.n, limits.max_sequences));
  return r;
}

EmbeddingRequest parse_embedding_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  EmbeddingRequest r;
  r.model = required_model(body);
  const Json* input = present(body, "input");
  if (!input) throw invalid_field("input", "`input` is required");
  if (is_multimodal_input(*input)) {
    r.multimodal = parse_embedding_inputs(*input, limits.max_inputs);
  } else if (input->is_string()) {
    r.texts.push_back(input->get<std::string>());
  } else if (is_token_id_list(*input)) {
    r.id_lists.push_back(token_ids(*input, "input", limits.max_token_ids));
  } else if (input->is_array() && !input->empty()) {
    if (input->size() > limits.max_inputs)
      throw invalid_field("input", fmt::format("at most {} inputs per request", limits.max_inputs));
    const bool ids = (*input)[0].is_array();
    for (size_t i = 0; i < input->size(); ++i) {
      const Json& e = (*input)[i];
      const std::string param = fmt::format("input[{}]", i);
      if (ids && e.is_array())
        r.id_lists.push_back(token_ids(e, param, limits.max_token_ids));
      else if (!ids && e.is_string())
        r.texts.push_back(e.get<std::string>());
      else
        throw invalid_field(param, "`input` must be all strings or all lists of token ids");
    }
  } else {
    throw invalid_field("input", "`input` must be a string, a non-empty list of strings, or token ids");
  }
  const auto format = string_field(body, "encoding_format", "encoding_format", 64).value_or("float");
  if (format != "float" && format != "base64")
    throw invalid_field("encoding_format", "`encoding_format` must be \"float\" or \"base64\"");
  r.base64 = format == "base64";
  r.dimensions = integer_field(body, "dimensions", "dimensions", 1, 1 << 20);
  return r;
}

TokenizeRequest parse_tokenize_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  TokenizeRequest r;
  r.model = optional_model(body);
  r.prompt = string_field(body, "prompt", "prompt", std::string::npos);
  if (present(body, "messages")) {
    if (r.prompt) throw invalid_field("messages", "give `prompt` or `messages`, not both");
    std::vector<ImagePart> images;
    r.messages = chat_messages(body, limits, images);
    if (!images.empty())
      throw unsupported_field(images[0].param, "/tokenize does not take images (their tokens depend on the image)");
    r.add_special_tokens = false;
  } else if (!r.prompt) {
    throw invalid_field("prompt", "`prompt` (or `messages`) is required");
  }
  if (auto add = bool_field(body, "add_special_tokens", "add_special_tokens")) r.add_special_tokens = *add;
  if (auto add = bool_field(body, "add_generation_prompt", "add_generation_prompt")) r.add_generation_prompt = *add;
  return r;
}

DetokenizeRequest parse_detokenize_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  DetokenizeRequest r;
  r.model = optional_model(body);
  const Json* tokens = present(body, "tokens");
  if (!tokens) throw invalid_field("tokens", "`tokens` is required");
  r.ids = token_ids(*tokens, "tokens", limits.max_token_ids);
  return r;
}

namespace {

TeiInputs tei_inputs(const Json& body, const RequestLimits& limits) {
  const Json* v = present(body, "inputs");
  if (!v) throw invalid_field("inputs", "`inputs` is required");
  TeiInputs in;
  if (v->is_string()) {
    in.texts.push_back(v->get<std::string>());
    return in;
  }
  if (!v->is_array() || v->empty()) throw invalid_field("inputs", "`inputs` must be a string or a non-empty list");
  if (v->size() > limits.max_inputs)
    throw invalid_field("inputs", fmt::format("at most {} inputs per request", limits.max_inputs));
  in.batch = true;
  for (size_t i = 0; i < v->size(); ++i) {
    if (!(*v)[i].is_string()) throw invalid_field(fmt::format("inputs[{}]", i), "`inputs` must hold strings");
    in.texts.push_back((*v)[i].get<std::string>());
  }
  return in;
}

}  // namespace

TeiEmbedRequest parse_tei_embed_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  TeiEmbedRequest r;
  r.model = optional_model(body);
  r.inputs = tei_inputs(body, limits);
  r.normalize = bool_field(body, "normalize", "normalize");
  r.truncate = bool_field(body, "truncate", "truncate").value_or(false);
  r.prompt_name = string_field(body, "prompt_name", "prompt_name", 1024);
  if (auto dir = string_field(body, "truncation_direction", "truncation_direction", 16); dir && *dir != "Right")
    throw unsupported_field("truncation_direction", "only truncation_direction \"Right\" is supported");
  return r;
}

TeiTokenizeRequest parse_tei_tokenize_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  TeiTokenizeRequest r;
  r.model = optional_model(body);
  r.inputs = tei_inputs(body, limits);
  r.add_special_tokens = bool_field(body, "add_special_tokens", "add_special_tokens").value_or(true);
  return r;
}

TeiDecodeRequest parse_tei_decode_request(std::string_view text, const RequestLimits& limits) {
  const Json body = parse_request_object(text);
  TeiDecodeRequest r;
  r.model = optional_model(body);
  const Json* ids = present(body, "ids");
  if (!ids) throw invalid_field("ids", "`ids` is required");
  if (ids->is_array() && !ids->empty() && (*ids)[0].is_array()) {
    if (ids->size() > limits.max_inputs)
      throw invalid_field("ids", fmt::format("at most {} lists per request", limits.max_inputs));
    r.batch = true;
    for (size_t i = 0; i < ids->size(); ++i)
      r.id_lists.push_back(token_ids((*ids)[i], fmt::format("ids[{}]", i), limits.max_token_ids));
  } else {
    r.id_lists.push_back(token_ids(*ids, "ids", limits.max_token_ids));
  }
  r.skip_special_tokens = bool_field(body, "skip_special_tokens", "skip_special_tokens").value_or(true);
  return r;
}

bool is_tei_tokenize_body(std::string_view text) {
  const Json body = parse_request_object(text);
  return body.contains("inputs");
}

}  // namespace ia::server
