#pragma once
// The server's routes, one group per file; each registers its routes through
// route_handler.h so they share admission, body bounds, errors and metrics.
#include <httplib.h>

#include "server/multipart_form.h"
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
// POST /zero-shot-image-classification (CLIP) and /zero-shot-video-classification (X-CLIP), in
// the Hugging Face Inference API's shape, JSON data URLs or multipart uploads (zero_shot_routes.cpp).
void add_zero_shot_routes(httplib::Server& http, ServerState& state);
// GET /v1/models, /health, /metrics, TEI's GET /info (info_routes.cpp).
void add_info_routes(httplib::Server& http, ServerState& state);
// GET /dashboard: the HTML benchmark report of this machine's results database (dashboard_routes.cpp).
void add_dashboard_routes(httplib::Server& http, ServerState& state);

// The local answers of the routes above, also the router's local deployments.
void local_chat_completions(ServerState& s, const std::string& body, httplib::Response& res);
void local_completions(ServerState& s, const std::string& body, httplib::Response& res);
void local_embeddings(ServerState& s, const std::string& body, httplib::Response& res);
struct TranscriptionForm;
// `deployment`: the router's name for it when it answers a routed name ("" otherwise).
void local_transcription(ServerState& s, const TranscriptionForm& form, httplib::Response& res,
                         const std::string& deployment = "");

// The gateway (gateway_routes.cpp): a request for a routed model name (serve --providers)
// answered through the router; false when the name is not routed.
bool route_chat(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res);
bool route_completion(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res);
bool route_embeddings(ServerState& s, const httplib::Request& req, const std::string& body, httplib::Response& res);
// POST /v1/audio/transcriptions (task "transcribe") and /translations ("translate") for a
// routed name: local deployments through local_transcription, remote ones forward the upload.
bool route_transcription(ServerState& s, const httplib::Request& req, const std::vector<FormPart>& parts,
                         httplib::Response& res, const std::string& task);

}  // namespace ia::server
