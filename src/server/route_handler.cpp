#include "server/route_handler.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <nlohmann/json.hpp>

#include "server/api_error.h"

namespace ia::server {

namespace {

void send_error(httplib::Response& res, const ErrorResponse& e, bool tei = false) {
  res.status = e.status;
  for (const auto& [k, v] : e.headers) res.set_header(k, v);
  res.set_content((tei ? tei_error_body(e.body, e.status) : e.body) + "\n", "application/json");
}

void check_admission(ServerState& state, const httplib::Request& req, const RouteOptions& options) {
  if (options.needs_ready && state.draining)
    throw unavailable("server_draining", "the server is shutting down; try another instance");
  if (options.needs_ready && !state.ready) throw unavailable("model_loading", "the models are still loading");
  if (options.needs_key) state.keys.check(req.get_header_value("Authorization"), req.get_header_value("X-Api-Key"));
}

// The body, read through httplib's reader up to max_bytes. Past it: 413, and the connection
// closes (what is left of the body is not read). A declared length past the bound is drained
// by httplib in small reads (within the request deadline) so that the client sees the 413.
ApiError too_large_error(size_t max_bytes) {
  return ApiError(413, "invalid_request_error", "request_too_large",
                  "the request body is larger than " + std::to_string(max_bytes) + " bytes (--max-request-bytes)");
}

std::string read_body(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader,
                      size_t max_bytes) {
  // httplib parses multipart bodies itself (its plain reader has no parts callback for them).
  if (req.is_multipart_form_data()) {
    res.set_header("Connection", "close");
    throw ApiError(400, "invalid_request_error", "invalid_content_type",
                   "this route takes a JSON body (application/json), not multipart/form-data");
  }
  const std::string declared = req.get_header_value("Content-Length");
  uint64_t length = 0;
  const bool has_length = !declared.empty() &&
                          std::from_chars(declared.data(), declared.data() + declared.size(), length).ec == std::errc{};
  std::string body;
  bool too_large = has_length && length > max_bytes;
  // What a client declares is reserved only up to 1 MiB: a slow client claiming the limit
  // must not hold that much memory before it has sent anything.
  if (!too_large && has_length) body.reserve(std::min<size_t>(static_cast<size_t>(length), 1u << 20));
  const bool ok = reader([&](const char* data, size_t n) {
    if (too_large || body.size() + n > max_bytes) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (too_large) {
    res.set_header("Connection", "close");
    throw too_large_error(max_bytes);
  }
  if (!ok) {
    res.set_header("Connection", "close");
    throw ApiError(400, "invalid_request_error", "invalid_body", "the request body could not be read");
  }
  return body;
}

// A multipart body's parts through httplib's parser, within max_bytes of part data and kMaxFormParts.
std::vector<FormPart> read_form(const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader, size_t max_bytes) {
  if (!req.is_multipart_form_data()) {
    res.set_header("Connection", "close");
    throw ApiError(400, "invalid_request_error", "invalid_content_type",
                   "this route takes multipart/form-data (file, model, ...), as the OpenAI SDKs upload it");
  }
  std::vector<FormPart> parts;
  size_t total = 0;
  bool too_large = false, too_many = false;
  const bool ok = reader(
      [&](const httplib::MultipartFormData& h) {
        if (parts.size() == kMaxFormParts) {
          too_many = true;
          return false;
        }
        parts.push_back(
            {h.name, h.filename.empty() ? std::nullopt : std::optional<std::string>(h.filename), h.content_type, {}});
        return true;
      },
      [&](const char* data, size_t n) {
        if (parts.empty() || total + n > max_bytes) {
          too_large = !parts.empty();
          return false;
        }
        total += n;
        parts.back().data.append(data, n);
        return true;
      });
  if (too_large) {
    res.set_header("Connection", "close");
    throw too_large_error(max_bytes);
  }
  if (too_many || !ok) {
    res.set_header("Connection", "close");
    throw ApiError(400, "invalid_request_error", "invalid_multipart",
                   too_many ? "more than " + std::to_string(kMaxFormParts) + " parts in the form"
                            : "the multipart/form-data body is malformed");
  }
  return parts;
}

void count(ServerState& state, const std::string& route, int status) {
  state.metrics.add(metric::kRequests, {{"route", route}, {"status", std::to_string(status)}});
}

}  // namespace

std::string tei_error_body(const std::string& openai_body, int status) {
  const auto j = nlohmann::json::parse(openai_body, nullptr, false);
  std::string message = "error";
  if (!j.is_discarded() && j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
      j["error"]["message"].is_string())
    message = j["error"]["message"].get<std::string>();
  // TEI's error types by what they mean: refused input, a full queue, not serving, the model failed.
  const char* type = status == 429   ? "overloaded"
                     : status == 503 ? "unhealthy"
                     : status < 500  ? "validation"
                                     : "backend";
  return nlohmann::json{{"error", message}, {"error_type", type}}.dump();
}

void send_json(httplib::Response& res, const std::string& json, int status) {
  res.status = status;
  res.set_content(json + "\n", "application/json");
}

namespace {

// A body that is a media file itself: Content-Type image/*, audio/*, video/* or
// application/octet-stream.
bool is_media_body(const httplib::Request& req) {
  std::string type = req.get_header_value("Content-Type");
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* prefix : {"image/", "audio/", "video/", "application/octet-stream"})
    if (type.rfind(prefix, 0) == 0) return true;
  return false;
}

// Every POST route: admission, the body read within its bounds (JSON, or multipart/form-data where
// the route takes a form: the only body of a form-only route, by Content-Type where it takes both),
// errors in the route's shape, metrics.
void add_body_route(httplib::Server& http, ServerState& state, const std::string& pattern, BodyHandler json_handler,
                    FormHandler form_handler, RouteOptions options) {
  http.Post(pattern,
            [&state, pattern, json_handler = std::move(json_handler), form_handler = std::move(form_handler), options](
                const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
              InFlight in_flight(state);
              std::string body;
              try {
                check_admission(state, req, options);
                if (form_handler && is_media_body(req)) {
                  // A file as the whole body (huggingface_hub's InferenceClient sends images and
                  // audio this way): one `file` part.
                  FormPart file{"file", std::nullopt, req.get_header_value("Content-Type"),
                                read_body(req, res, reader, state.options.max_request_bytes)};
                  form_handler(req, res, {std::move(file)});
                } else if (form_handler && (!json_handler || req.is_multipart_form_data())) {
                  form_handler(req, res, read_form(req, res, reader, state.options.max_request_bytes));
                } else {
                  body = read_body(req, res, reader, state.options.max_request_bytes);
                  json_handler(req, res, body);
                }
              } catch (...) {
                send_error(res, current_error_response(), options.tei_errors && options.tei_errors(body));
              }
              if (state.draining) res.set_header("Connection", "close");
              count(state, pattern, res.status);
            });
}

}  // namespace

void add_post_route(httplib::Server& http, ServerState& state, const std::string& pattern, BodyHandler handler,
                    RouteOptions options) {
  add_body_route(http, state, pattern, std::move(handler), nullptr, std::move(options));
}

void add_form_route(httplib::Server& http, ServerState& state, const std::string& pattern, FormHandler handler,
                    RouteOptions options) {
  add_body_route(http, state, pattern, nullptr, std::move(handler), std::move(options));
}

void add_json_or_form_route(httplib::Server& http, ServerState& state, const std::string& pattern,
                            BodyHandler json_handler, FormHandler form_handler, RouteOptions options) {
  add_body_route(http, state, pattern, std::move(json_handler), std::move(form_handler), std::move(options));
}

void add_get_route(httplib::Server& http, ServerState& state, const std::string& pattern, GetHandler handler,
                   RouteOptions options) {
  http.Get(pattern, [&state, pattern, handler = std::move(handler), options](const httplib::Request& req,
                                                                             httplib::Response& res) {
    InFlight in_flight(state);
    try {
      check_admission(state, req, options);
      handler(req, res);
    } catch (...) {
      send_error(res, current_error_response());
    }
    if (state.draining) res.set_header("Connection", "close");
    count(state, pattern, res.status);
  });
}

}  // namespace ia::server
