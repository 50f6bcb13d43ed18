#include "server/image_inputs.h"

#include <cctype>

#include <fmt/format.h>

#include "core/base64.h"
#include "server/api_error.h"

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
  if (!starts_with_ci(url, "data:"))
    throw invalid_field(param, fmt::format("`{}` must be a data URL ({})", param, example));
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
