#pragma once
// How every route runs, in one place: 503 while loading or draining, the key
// check (401), the body read within --max-request-bytes (413, never read into
// memory past the bound), the handler, any error answered in OpenAI's shape,
// and the request counted by route and status.
#include <functional>
#include <string>

#include <httplib.h>

#include "server/multipart_form.h"
#include "server/server_state.h"

namespace ia::server {

struct RouteOptions {
  bool needs_key = true;    // --api-key applies
  bool needs_ready = true;  // 503 while models load or the server drains
  // TEI's routes answer errors in TEI's shape, {"error": message, "error_type": "validation" |
  // "overloaded" | "unhealthy" | "backend"}, which its clients parse; given the body (a route may
  // serve both APIs, as /tokenize does), whether this request is TEI's. Null: OpenAI's shape.
  std::function<bool(const std::string& body)> tei_errors;
};

// The shape TEI clients expect of an error answered in OpenAI's shape (same status).
std::string tei_error_body(const std::string& openai_body, int status);

using BodyHandler = std::function<void(const httplib::Request&, httplib::Response&, const std::string& body)>;
using FormHandler =
    std::function<void(const httplib::Request&, httplib::Response&, const std::vector<FormPart>& parts)>;
using GetHandler = std::function<void(const httplib::Request&, httplib::Response&)>;

void add_post_route(httplib::Server& http, ServerState& state, const std::string& pattern, BodyHandler handler,
                    RouteOptions options = {});
// A route that takes multipart/form-data (uploads): its parts, read within --max-request-bytes
// and kMaxFormParts; any other body is a 400.
void add_form_route(httplib::Server& http, ServerState& state, const std::string& pattern, FormHandler handler,
                    RouteOptions options = {});
// A route that takes either a JSON body or multipart/form-data (uploads), by the request's
// Content-Type, with each form's bounds as above. Form routes also take a media file as the
// whole body (Content-Type image/*, audio/*, video/*, application/octet-stream, as
// huggingface_hub sends them), handed over as a single `file` part.
void add_json_or_form_route(httplib::Server& http, ServerState& state, const std::string& pattern,
                            BodyHandler json_handler, FormHandler form_handler, RouteOptions options = {});
void add_get_route(httplib::Server& http, ServerState& state, const std::string& pattern, GetHandler handler,
                   RouteOptions options = {});

// A JSON answer (200 unless `status`).
void send_json(httplib::Response& res, const std::string& json, int status = 200);

}  // namespace ia::server
