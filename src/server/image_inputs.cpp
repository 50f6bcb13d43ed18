#include "server/image_inputs.h"

#include <cctype>

#include <fmt/format.h>

#include "core/base64.h"
#include "server/api_error.h"
#include "server/request_json.h"

namespace ia::server {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

}  // namespace

namespace {

// `what` is the media's name ("image", "audio"); the data URL's type must be `what`/*.
std::string data_url_bytes(std::string_view url, const std::string& param, const std::string& what,
                           const char* example) {
  if (starts_with_ci(url, "http://") || starts_with_ci(url, "https://"))
    throw invalid_field(param, fmt::format("`{}`: {} URLs are not fetched by this server; send the {} as a "
                                           "data URL ({}) or as a multipart upload",
                                           param, what, what, example));
  if (!starts_with_ci(url, "data:")) {
    // The file's base64 alone, as huggingface_hub's InferenceClient sends it in JSON bodies;
    // the decoder reads the bytes' own signature.
    std::optional<std::string> bytes = base64_decode(url);
    if (!bytes || bytes->empty())
      throw invalid_field(param, fmt::format("`{}` must be a data URL ({}) or the file's base64", param, example));
    return std::move(*bytes);
  }
  const size_t comma = url.find(',');
  if (comma == std::string_view::npos)
    throw invalid_field(param, fmt::format("`{}`: a data URL needs a comma before its data", param));
  const std::string_view meta = url.substr(5, comma - 5);
  const std::string_view data = url.substr(comma + 1);
  if (meta.size() < 7 || !starts_with_ci(meta.substr(meta.size() - 7), ";base64"))
    throw invalid_field(param, fmt::format("`{}`: only base64 data URLs carry {} ({})", param,
                                           what == "image" ? "images" : what, example));
  const std::string_view type = meta.substr(0, meta.size() - 7);
  // An absent media type is allowed (the decoder reads the bytes' own signature).
  if (!type.empty() && !starts_with_ci(type, what + "/") && !starts_with_ci(type, "application/octet-stream"))
    throw invalid_field(param, fmt::format("`{}`: the data URL's media type \"{}\" is not {}", param, type,
                                           what == "image" ? "an image" : what));
  std::optional<std::string> bytes = base64_decode(data);
  if (!bytes) throw invalid_field(param, fmt::format("`{}`: the data URL's base64 does not decode", param));
  if (bytes->empty()) throw invalid_field(param, fmt::format("`{}`: the {} is empty", param, what));
  return std::move(*bytes);
}

}  // namespace

std::string image_data_url_bytes(std::string_view url, const std::string& param) {
  return data_url_bytes(url, param, "image", "data:image/png;base64,...");
}

std::string audio_data_url_bytes(std::string_view url, const std::string& param) {
  return data_url_bytes(url, param, "audio", "data:audio/wav;base64,...");
}

std::string video_data_url_bytes(std::string_view url, const std::string& param) {
  return data_url_bytes(url, param, "video", "data:video/mp4;base64,...");
}

std::string data_url_media_type(std::string_view url) {
  if (!starts_with_ci(url, "data:")) return "";
  const size_t end = url.find_first_of(";,", 5);
  if (end == std::string_view::npos) return "";
  std::string type(url.substr(5, end - 5));
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

ImageRequest parse_images_json(const nlohmann::ordered_json& j, size_t max_inputs) {
  ImageRequest r;
  r.model = string_field(j, "model", "model", 256).value_or("");
  const auto it = j.find("inputs");
  if (it == j.end() || it->is_null())
    throw invalid_field("inputs", "`inputs` (an image data URL, or a list) is required");
  if (it->is_string()) {
    r.images.push_back(image_data_url_bytes(it->get<std::string>(), "inputs"));
    r.names.push_back("inputs");
  } else if (it->is_array() && !it->empty()) {
    if (it->size() > max_inputs)
      throw invalid_field("inputs", fmt::format("at most {} images per request", max_inputs));
    r.batch = true;
    for (size_t i = 0; i < it->size(); ++i) {
      const std::string param = fmt::format("inputs[{}]", i);
      if (!(*it)[i].is_string()) throw invalid_field(param, fmt::format("`{}` must be a data URL string", param));
      r.images.push_back(image_data_url_bytes((*it)[i].get<std::string>(), param));
      r.names.push_back(param);
    }
  } else {
    throw invalid_field("inputs", "`inputs` must be an image data URL or a non-empty list of them");
  }
  return r;
}

ImageRequest parse_images_form(const std::vector<FormPart>& parts, size_t max_inputs,
                               const std::function<void(const FormPart&)>& field) {
  ImageRequest r;
  for (const FormPart& p : parts) {
    if (p.name == "file" || p.name == "file[]" || p.name == "inputs") {
      if (p.data.empty()) throw invalid_field("file", "an uploaded image is empty");
      r.images.push_back(p.data);
      r.names.push_back(p.filename.value_or("file"));
    } else if (p.name == "model") {
      if (p.data.size() > 256) throw invalid_field("model", "`model` is longer than 256 bytes");
      r.model = p.data;
    } else {
      field(p);
    }
  }
  if (r.images.empty()) throw invalid_field("file", "upload the image as a `file` part");
  if (r.images.size() > max_inputs)
    throw invalid_field("file", fmt::format("at most {} images per request", max_inputs));
  r.batch = r.images.size() > 1;
  return r;
}

bool is_multimodal_input(const nlohmann::ordered_json& input) {
  if (!input.is_array()) return input.is_object();
  for (const auto& e : input)
    if (e.is_object()) return true;
  return false;
}

std::vector<EmbeddingInput> parse_embedding_inputs(const nlohmann::ordered_json& input, size_t max_inputs) {
  const nlohmann::ordered_json items = input.is_array() ? input : nlohmann::ordered_json::array({input});
  if (items.empty()) throw invalid_field("input", "`input` must not be empty");
  if (items.size() > max_inputs) throw invalid_field("input", fmt::format("at most {} inputs per request", max_inputs));
  std::vector<EmbeddingInput> out;
  out.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& e = items[i];
    const std::string param = fmt::format("input[{}]", i);
    EmbeddingInput in;
    if (e.is_string()) {
      in.text = e.get<std::string>();
    } else if (e.is_object() && e.size() == 1 && e.contains("text") && e["text"].is_string()) {
      in.text = e["text"].get<std::string>();
    } else if (e.is_object() && e.size() == 1 && e.contains("image") && e["image"].is_string()) {
      in.kind = EmbeddingInput::Kind::Image;
      in.bytes = image_data_url_bytes(e["image"].get<std::string>(), param + ".image");
    } else if (e.is_object() && e.size() == 1 && e.contains("audio") && e["audio"].is_string()) {
      in.kind = EmbeddingInput::Kind::Audio;
      in.bytes = audio_data_url_bytes(e["audio"].get<std::string>(), param + ".audio");
    } else {
      throw invalid_field(param, fmt::format("`{}` must be a string, {{\"text\": string}}, {{\"image\": data URL}} or "
                                             "{{\"audio\": data URL}}",
                                             param));
    }
    out.push_back(std::move(in));
  }
  return out;
}

}  // namespace ia::server
