#pragma once
// Error types shared by every layer. Errors are exceptions carrying a kind so
// the edges (CLI, gateway, server) can map them, all through
// core/error_outcome.h: user-caused kinds become exit status 2 or an HTTP
// 4xx/5xx by kind; Internal is a bug (exit 1, HTTP 500).
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace ia {

enum class ErrorKind {
  InvalidArgument,  // bad flag, bad value, bad text
  NotFound,         // missing folder, file, tensor, token
  Corrupt,          // a file that exists but is malformed (safetensors, json)
  Unsupported,      // valid input we do not handle (unknown model_type, dtype)
  Unavailable,      // a device or provider that is not present here
  Internal,         // a bug in ipfs-accelerate
};

const char* error_kind_name(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }
  bool is_user_error() const { return kind_ != ErrorKind::Internal; }

 private:
  ErrorKind kind_;
};

template <typename... Args>
[[noreturn]] void fail(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
  throw Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

#define IA_CHECK(cond, ...)                                          \
  do {                                                               \
    if (!(cond)) ::ia::fail(::ia::ErrorKind::Internal, __VA_ARGS__); \
  } while (0)

}  // namespace ia
