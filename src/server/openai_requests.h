#pragma once
// The request bodies of the OpenAI-compatible routes (and vLLM's and TEI's
// extras) parsed into plain structs, with every field checked for type and
// range and every list bounded (RequestLimits). Parsing needs no model: what
// depends on one (token ids against its vocabulary, lengths against its
// context) is checked by the routes. Fields the server understands but cannot
// honour yet (guided_regex, guided_grammar, best_of, ...) are refused with
// 400 saying so, never silently ignored; fields it does not know are ignored,
// as OpenAI's own server does for forward compatibility.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/generation.h"
#include "server/image_inputs.h"
#include "server/tool_calls.h"

namespace ia::server {

struct RequestLimits {
  int max_sequences = 16;    // prompts x n of one request (--max-num-seqs)
  size_t max_inputs = 2048;  // texts of one embeddings / tokenize request
  size_t max_messages = 4096;
  size_t max_images = 16;  // image_url parts of one chat request
  size_t max_stop = 16;    // stop strings
  size_t max_stop_bytes = 1024;
  size_t max_logit_bias = 1024;
  size_t max_token_ids = 1u << 20;  // ids in one prompt or input
  int64_t max_new_tokens = 1 << 20;
  // Zero-shot classification (server/zero_shot_request.h).
  size_t max_labels = 256;         // candidate_labels of one request
  size_t max_label_bytes = 1024;   // one label; also the hypothesis_template
  size_t max_videos = 16;          // videos of one zero-shot video request
  size_t max_video_frames = 1024;  // frame images of one video sent as its frames
};

// What chat and text completions share: sampling, lengths and stopping, n, streaming.
struct GenerationFields {
  std::string model;
  GenerationRequest request;  // max_new_tokens set only when max_tokens was given
  int n = 1;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// An image_url content part, as given (server/image_inputs.h reads it).
struct ImagePart {
  std::string url;
  std::string param;  // "messages[0].content[1].image_url.url", for errors
};

struct ChatCompletionRequest : GenerationFields {
  // The messages as the chat template takes them: a list of {role, content, ...} whose
  // content is a string (text parts joined with "\n"; null for an assistant's tool call), or
  // where a message has image parts, its parts in order as {"type": "image"} and
  // {"type": "text", "text": ...} items (what LLaVA's templates render).
  nlohmann::ordered_json messages;
  std::vector<ImagePart> images;  // the image parts in message order
  bool logprobs = false;          // request.logprobs = top_logprobs when true
  ToolsRequest tools;             // function calling: server/tool_calls.h
};

struct PromptInput {
  std::string text;
  std::vector<int32_t> ids;
  bool is_ids = false;
};

struct CompletionRequest : GenerationFields {
  std::vector<PromptInput> prompts;
  bool echo = false;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> texts;              // text inputs, or
  std::vector<std::vector<int32_t>> id_lists;  // token-id inputs, or
  std::vector<EmbeddingInput> multimodal;      // texts and images ({"text"} / {"image"} items)
  bool base64 = false;                         // encoding_format "base64"
  std::optional<int64_t> dimensions;
};

// vLLM's /tokenize: a prompt, or chat messages rendered through the template.
struct TokenizeRequest {
  std::string model;  // "" when absent: the first served model
  std::optional<std::string> prompt;
  std::optional<nlohmann::ordered_json> messages;
  bool add_special_tokens = true;     // prompt: as tokenizer.encode; messages: false (the template writes them)
  bool add_generation_prompt = true;  // messages only
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> ids;
};

// TEI's /embed and /tokenize take "inputs": one text or a list.
struct TeiInputs {
  std::vector<std::string> texts;
  bool batch = false;  // given as a list: answer a list
};

struct TeiEmbedRequest {
  std::string model;  // an extension: TEI serves one model
  TeiInputs inputs;
  std::optional<bool> normalize;
  bool truncate = false;
  std::optional<std::string> prompt_name;
};

struct TeiTokenizeRequest {
  std::string model;
  TeiInputs inputs;
  bool add_special_tokens = true;
};

struct TeiDecodeRequest {
  std::string model;
  std::vector<std::vector<int32_t>> id_lists;
  bool batch = false;
  bool skip_special_tokens = true;
};

ChatCompletionRequest parse_chat_completion_request(std::string_view body, const RequestLimits& limits);
CompletionRequest parse_completion_request(std::string_view body, const RequestLimits& limits);
EmbeddingRequest parse_embedding_request(std::string_view body, const RequestLimits& limits);
TokenizeRequest parse_tokenize_request(std::string_view body, const RequestLimits& limits);
DetokenizeRequest parse_detokenize_request(std::string_view body, const RequestLimits& limits);
TeiEmbedRequest parse_tei_embed_request(std::string_view body, const RequestLimits& limits);
TeiTokenizeRequest parse_tei_tokenize_request(std::string_view body, const RequestLimits& limits);
TeiDecodeRequest parse_tei_decode_request(std::string_view body, const RequestLimits& limits);

// POST /tokenize serves both vLLM's shape ({"prompt"} or {"messages"}) and TEI's
// ({"inputs"}): true when the body is TEI's.
bool is_tei_tokenize_body(std::string_view body);

}  // namespace ia::server
