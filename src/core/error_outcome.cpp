#include "core/error_outcome.h"

#include <filesystem>
#include <new>

#include <nlohmann/json.hpp>

// Only for ipfs_accelerate::Error, which carries its kind as error_kind_name's string.
#include "ipfs_accelerate/accelerator.h"

namespace ia {

namespace {

constexpr ErrorKind kAllKinds[] = {ErrorKind::InvalidArgument, ErrorKind::NotFound,    ErrorKind::Corrupt,
                                   ErrorKind::Unsupported,     ErrorKind::Unavailable, ErrorKind::Internal};

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

}  // namespace

ErrorKind error_kind_from_name(std::string_view name) {
  for (ErrorKind k : kAllKinds) {
    if (name == error_kind_name(k)) return k;
  }
  return ErrorKind::Internal;
}

ErrorOutcome current_error_outcome() {
  try {
    throw;
  } catch (const Error& e) {
    return {e.kind(), one_line(e.what())};
  } catch (const ipfs_accelerate::Error& e) {
    return {error_kind_from_name(e.kind()), one_line(e.what())};
  } catch (const std::filesystem::filesystem_error& e) {
    return {ErrorKind::Unavailable, one_line(e.what())};
  } catch (const std::bad_alloc&) {
    return {ErrorKind::Unavailable, "out of memory"};
  } catch (const std::exception& e) {
    return {ErrorKind::Internal, one_line(e.what())};
  } catch (...) {
    return {ErrorKind::Internal, "unknown exception"};
  }
}

int cli_exit_status(ErrorKind kind) {
  return kind == ErrorKind::Internal ? 1 : 2;
}

std::string cli_error_line(const ErrorOutcome& outcome) {
  return std::string(outcome.is_user_error() ? "ipfs-accelerate: error: " : "ipfs-accelerate: internal error: ") +
         one_line(outcome.message);
}

int http_status(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument: return 400;
    case ErrorKind::NotFound: return 404;
    case ErrorKind::Corrupt: return 502;
    case ErrorKind::Unsupported: return 501;
    case ErrorKind::Unavailable: return 503;
    case ErrorKind::Internal: return 500;
  }
  return 500;
}

const char* http_error_type(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::InvalidArgument: return "invalid_request_error";
    case ErrorKind::NotFound: return "not_found_error";
    case ErrorKind::Corrupt: return "server_error";
    case ErrorKind::Unsupported: return "not_supported_error";
    case ErrorKind::Unavailable: return "unavailable_error";
    case ErrorKind::Internal: return "server_error";
  }
  return "server_error";
}

std::string http_error_body(const ErrorOutcome& outcome, std::string_view param) {
  return http_error_body(outcome.is_user_error() ? one_line(outcome.message) : "internal error",
                         http_error_type(outcome.kind), param, error_kind_name(outcome.kind));
}

std::string http_error_body(std::string_view message, std::string_view type, std::string_view param,
                            std::string_view code) {
  nlohmann::ordered_json error;
  error["message"] = one_line(std::string(message));
  error["type"] = std::string(type);
  error["param"] = param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(std::string(param));
  error["code"] = std::string(code);
  // A message may quote invalid UTF-8 from the request: replace, never throw.
  return nlohmann::ordered_json{{"error", error}}.dump(-1, ' ', false,
                                                       nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace ia
