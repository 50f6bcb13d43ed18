#pragma once
// Images (and audio clips) in JSON request bodies: data URLs (`data:image/png;base64,...`), as
// OpenAI's chat `image_url` parts and the multimodal embeddings APIs carry them. The server never fetches a
// URL on a client's behalf (an http(s) URL is a 400 saying how to send the image instead); the
// bytes are decoded later by the image front end within its limits.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia::server {

// The bytes of a `data:[<mediatype>];base64,<data>` URL. 400 naming `param` for anything else:
// another scheme, no base64 marker, a media type that is not an image, bad base64.
std::string image_data_url_bytes(std::string_view url, const std::string& param);
// The same for audio (`data:audio/wav;base64,...`, any audio/* type).
std::string audio_data_url_bytes(std::string_view url, const std::string& param);

// One input of a multimodal embeddings request (Jina's and Cohere's convention): a text, or an
// image's or an audio clip's encoded bytes.
struct EmbeddingInput {
  enum class Kind { Text, Image, Audio };
  Kind kind = Kind::Text;
  std::string text;   // Kind::Text
  std::string bytes;  // Image, Audio: the file's bytes (PNG, JPEG, ...; WAV, FLAC, ...)
};

// `input` items that are objects: {"text": "..."}, {"image": "data:image/...;base64,..."} or
// {"audio": "data:audio/...;base64,..."} (strings among them are texts). At most max_inputs;
// 400 naming "input[i]" otherwise.
std::vector<EmbeddingInput> parse_embedding_inputs(const nlohmann::ordered_json& input, size_t max_inputs);

// True when some item of `input` (an array) is an object, i.e. the multimodal form.
bool is_multimodal_input(const nlohmann::ordered_json& input);

}  // namespace ia::server
