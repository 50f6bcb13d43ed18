#pragma once
// Images (and audio clips) in JSON request bodies: data URLs (`data:image/png;base64,...`), as
// OpenAI's chat `image_url` parts and the multimodal embeddings APIs carry them. The server never fetches a
// URL on a client's behalf (an http(s) URL is a 400 saying how to send the image instead); the
// bytes are decoded later by the image front end within its limits.
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/multipart_form.h"

namespace ia::server {

// The bytes of a `data:[<mediatype>];base64,<data>` URL, or of bare base64 (huggingface_hub's
// JSON bodies). 400 naming `param` for anything else: another scheme, no base64 marker, a media
// type that is not an image, bad base64.
std::string image_data_url_bytes(std::string_view url, const std::string& param);
// The same for audio (`data:audio/wav;base64,...`, any audio/* type).
std::string audio_data_url_bytes(std::string_view url, const std::string& param);
// The same for a video file (`data:video/mp4;base64,...`, any video/* type).
std::string video_data_url_bytes(std::string_view url, const std::string& param);

// The media type a data URL declares, lower-cased ("image/png"; "" when it names none or is
// not a data URL); for telling a video's frames from video files without decoding anything.
std::string data_url_media_type(std::string_view url);

// The images of a request to an image route (/predict, /detect, /zero-shot-image-classification),
// in either body: a JSON "inputs" (a data URL or a list of them) or the `file` parts of an
// upload; and "model".
struct ImageRequest {
  std::string model;
  std::vector<std::string> images;  // encoded bytes
  std::vector<std::string> names;   // for errors: "inputs[1]", the upload's file name
  bool batch = false;               // a list of inputs (the answer is a list of lists)
};

// "inputs" and "model" of a JSON body: at most max_inputs images, 400 naming the input otherwise.
ImageRequest parse_images_json(const nlohmann::ordered_json& body, size_t max_inputs);
// The `file` parts (also `file[]`, `inputs`) and `model` of an upload; `field` takes every other
// part (it may ignore it or refuse it).
ImageRequest parse_images_form(const std::vector<FormPart>& parts, size_t max_inputs,
                               const std::function<void(const FormPart&)>& field);

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
