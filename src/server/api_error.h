#pragma once
// An error answered in OpenAI's shape, {"error": {"message", "type", "param",
// "code"}}, with its HTTP status. The server's own refusals (a bad field, a
// missing key, a full queue) are ApiErrors; anything else a handler throws is
// mapped by kind through core/error_outcome.h, as the CLI and gateway map it.
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ia::server {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, std::string type, std::string code, const std::string& message, std::string param = {})
      : std::runtime_error(message),
        status_(status),
        type_(std::move(type)),
        code_(std::move(code)),
        param_(std::move(param)) {}
  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }
  const std::string& param() const { return param_; }
  // Extra response headers (Retry-After on 429 and 503).
  std::vector<std::pair<std::string, std::string>> headers;

 private:
  int status_;
  std::string type_, code_, param_;
};

// 400 invalid_request_error naming the field at fault (code "invalid_value").
ApiError invalid_field(const std::string& param, const std::string& message);
// 400 for a field this server understands but cannot honour yet (code "unsupported_parameter").
ApiError unsupported_field(const std::string& param, const std::string& message);
// 400 context_length_exceeded.
ApiError context_length_exceeded(const std::string& param, const std::string& message);
// 404 model_not_found, listing the served models.
ApiError model_not_found(const std::string& model, const std::string& served);
// 429 (queue full) or 503 (loading, draining) with Retry-After.
ApiError queue_full(const std::string& model);
ApiError unavailable(const std::string& code, const std::string& message);

// The status, body and headers of the exception being handled (call inside a catch block):
// an ApiError as it is, anything else through core/error_outcome.h (an internal error's
// message is logged, never sent).
struct ErrorResponse {
  int status = 500;
  std::string body;  // the JSON object, no trailing newline
  std::vector<std::pair<std::string, std::string>> headers;
};
ErrorResponse current_error_response();
ErrorResponse error_response(const ApiError& e);

}  // namespace ia::server
