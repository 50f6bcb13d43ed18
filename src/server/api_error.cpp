#include "server/api_error.h"

#include "core/error_outcome.h"
#include "core/logging.h"

namespace ia::server {

ApiError invalid_field(const std::string& param, const std::string& message) {
  return {400, "invalid_request_error", "invalid_value", message, param};
}

ApiError unsupported_field(const std::string& param, const std::string& message) {
  return {400, "invalid_request_error", "unsupported_parameter", message, param};
}

ApiError context_length_exceeded(const std::string& param, const std::string& message) {
  return {400, "invalid_request_error", "context_length_exceeded", message, param};
}

ApiError model_not_found(const std::string& model, const std::string& served) {
  return {404, "invalid_request_error", "model_not_found",
          "the model `" + model + "` does not exist here (served: " + served + ")", "model"};
}

ApiError queue_full(const std::string& model) {
  ApiError e(429, "rate_limit_error", "rate_limit_exceeded",
             "the request queue of model `" + model + "` is full; try again shortly");
  e.headers.emplace_back("Retry-After", "1");
  return e;
}

ApiError unavailable(const std::string& code, const std::string& message) {
  ApiError e(503, "unavailable_error", code, message);
  e.headers.emplace_back("Retry-After", "1");
  return e;
}

ErrorResponse error_response(const ApiError& e) {
  return {e.status(), http_error_body(e.what(), e.type(), e.param(), e.code()), e.headers};
}

ErrorResponse current_error_response() {
  try {
    throw;
  } catch (const ApiError& e) {
    return error_response(e);
  } catch (...) {
    const ErrorOutcome outcome = current_error_outcome();
    if (!outcome.is_user_error()) spdlog::error("serve: internal error: {}", outcome.message);
    ErrorResponse r{http_status(outcome.kind), http_error_body(outcome), {}};
    if (outcome.kind == ErrorKind::Unavailable) r.headers.emplace_back("Retry-After", "1");
    return r;
  }
}

}  // namespace ia::server
