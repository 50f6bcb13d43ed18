#pragma once
// A request body as JSON, parsed within bounds (core/bounded_json.h: depth,
// size, no duplicate keys), and typed readers of its fields. Every refusal is
// an ApiError 400 naming the field ("messages[2].content"), so a client sees
// which part of its request is wrong.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ia::server {

// Most nesting any request needs (messages with content parts, tool schemas).
inline constexpr size_t kMaxRequestJsonDepth = 64;

// The body as a JSON object: 400 invalid_json when it does not parse, is nested too deeply,
// repeats a key, or is not an object.
nlohmann::ordered_json parse_request_object(std::string_view body);

// Field readers: nullopt when the field is absent or null; 400 naming `param` when it has
// the wrong type or is out of range.
std::optional<std::string> string_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param,
                                        size_t max_bytes = 1u << 20);
std::optional<bool> bool_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param);
std::optional<int64_t> integer_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param,
                                     int64_t min, int64_t max);
std::optional<double> number_field(const nlohmann::ordered_json& obj, const char* key, const std::string& param,
                                   double min, double max);
// The body's "parameters" object (HF Inference's task shapes carry options there): an empty
// object when absent or null; 400 when it is something else.
nlohmann::ordered_json parameters_object(const nlohmann::ordered_json& obj);
// A list of token ids, each in [0, vocab) when vocab > 0 (else only >= 0), at most max_items.
std::vector<int32_t> token_ids(const nlohmann::ordered_json& v, const std::string& param, size_t max_items);
// True when `v` is a non-empty list of integers (a token-id prompt rather than a list of texts).
bool is_token_id_list(const nlohmann::ordered_json& v);

}  // namespace ia::server
