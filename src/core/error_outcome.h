#pragma once
// The one map from an error to what an edge does with it: the CLI's exit
// status and stderr line, or an HTTP status and an OpenAI-style JSON error
// body. The CLI's main, the IPFS gateway and the HTTP server all ask here, so
// the same error means the same thing everywhere.
//
//   kind              exit  HTTP  type
//   invalid_argument  2     400   invalid_request_error
//   not_found         2     404   not_found_error
//   corrupt           2     502   server_error          (a stored file or fetched block is malformed:
//                                                         the server's data, not the request)
//   unsupported       2     501   not_supported_error   (valid, not implemented here; another server may)
//   unavailable       2     503   unavailable_error     (a device, provider or memory: try later or elsewhere)
//   internal          1     500   server_error          (a bug; the body says only "internal error")
//
// The types follow llama.cpp's server, which uses OpenAI's names where OpenAI has one.
#include <string>
#include <string_view>

#include "core/error.h"

namespace ia {

// The kind named `name` (the inverse of error_kind_name, from the same list);
// a name it does not know is Internal.
ErrorKind error_kind_from_name(std::string_view name);

// An error as an edge sees it: its kind and its message on one line.
struct ErrorOutcome {
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
  bool is_user_error() const { return kind != ErrorKind::Internal; }
};

// The outcome of the exception being handled; call it inside a catch block.
// ia::Error keeps its kind, ipfs_accelerate::Error maps its kind name, a
// filesystem error or std::bad_alloc is Unavailable (the machine, not a bug),
// anything else is Internal.
ErrorOutcome current_error_outcome();

// CLI: 2 when the user can fix it, 1 for a bug.
int cli_exit_status(ErrorKind kind);
// CLI: "ipfs-accelerate: error: …" (internal: "ipfs-accelerate: internal error: …"), no newline.
std::string cli_error_line(const ErrorOutcome& outcome);

// HTTP status of a kind (the table above).
int http_status(ErrorKind kind);
// OpenAI's error "type" of a kind (the table above).
const char* http_error_type(ErrorKind kind);
// {"error": {"message", "type", "param", "code"}}: code is the kind's name,
// param the request field at fault (null when empty). An internal error's
// message is replaced by "internal error" so no local path or detail leaks;
// the server logs the original.
std::string http_error_body(const ErrorOutcome& outcome, std::string_view param = {});
// The same shape with every field given, for statuses no error kind has (the
// server's 401, 413, 429 and context_length_exceeded); an empty param is null.
std::string http_error_body(std::string_view message, std::string_view type, std::string_view param,
                            std::string_view code);

}  // namespace ia
