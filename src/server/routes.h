#pragma once
// The server's routes, one group per file; each registers its routes through
// route_handler.h so they share admission, body bounds, errors and metrics.
#include <httplib.h>

#include "server/server_state.h"

namespace ia::server {

// POST /v1/chat/completions, POST /v1/completions (generation_routes.cpp).
void add_generation_routes(httplib::Server& http, ServerState& state);
// POST /v1/embeddings, TEI's POST /embed (embedding_routes.cpp).
void add_embedding_routes(httplib::Server& http, ServerState& state);
// POST /tokenize (vLLM's or TEI's shape), POST /detokenize, TEI's POST /decode (tokenizer_routes.cpp).
void add_tokenizer_routes(httplib::Server& http, ServerState& state);
// POST /v1/audio/transcriptions and /v1/audio/translations, multipart uploads (audio_routes.cpp).
void add_audio_routes(httplib::Server& http, ServerState& state);
// POST /predict: image classification in TEI's shape, JSON data URLs or multipart uploads
// (image_routes.cpp).
void add_image_routes(httplib::Server& http, ServerState& state);
// GET /v1/models, /health, /metrics, TEI's GET /info (info_routes.cpp).
void add_info_routes(httplib::Server& http, ServerState& state);
// GET /dashboard: the HTML benchmark report of this machine's results database (dashboard_routes.cpp).
void add_dashboard_routes(httplib::Server& http, ServerState& state);

}  // namespace ia::server
