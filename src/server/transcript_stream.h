#pragma once
// A transcription streamed as OpenAI streams one (stream=true on /v1/audio/transcriptions and
// /translations): server-sent events {"type": "transcript.text.delta", "delta"} as the text comes,
// then {"type": "transcript.text.done", "text", "usage"?}; a failure after the first event is an
// {"error": …} event (the status already went out). The transcription runs on a worker thread —
// a local speech model or a remote provider's stream — and the connection's thread writes what it
// gives; a client that leaves makes on_delta return false, which stops it. Shared by the local
// speech models (audio_routes.cpp) and the gateway's remote deployments (gateway_routes.cpp).
#include <functional>
#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server_state.h"

namespace ia::server {

struct StreamedTranscript {
  std::string text;      // the whole transcript (the done event's text)
  nlohmann::json usage;  // {"type": "duration", "seconds"} or {"type": "tokens", …}; null: none
};

using OnDelta = std::function<bool(std::string_view delta)>;
using TranscriptWork = std::function<StreamedTranscript(const OnDelta& on_delta)>;

// Starts `work` on a worker thread and returns once it gave its first text or ended. A failure
// before any text is rethrown here (nothing was sent: the route answers with the error, or the
// router moves on to another deployment); after it, `res` streams the events.
void stream_transcript(ServerState& s, httplib::Response& res, TranscriptWork work);

}  // namespace ia::server
