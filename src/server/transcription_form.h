#pragma once
// The fields of an OpenAI audio upload (POST /v1/audio/transcriptions and /translations) checked
// once, and the answer written once in the format asked, for both the local speech models
// (audio_routes.cpp) and the router's remote deployments (gateway_routes.cpp).
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

#include "runtime/speech_recognizer.h"
#include "server/multipart_form.h"

namespace ia::server {

struct TranscriptionForm {
  const FormPart* file = nullptr;  // the audio (required)
  std::string model;
  std::string task;  // "transcribe" | "translate"
  std::optional<std::string> language;
  std::string prompt;
  std::optional<float> temperature;  // [0, 1]
  std::string format = "json";       // json | text | srt | vtt | verbose_json
  bool segment_timestamps = false;   // timestamp_granularities[] = segment (needs verbose_json)
  bool stream = false;               // stream=true: server-sent events (json or text only)
};

// Every refusal a 400 naming its field.
TranscriptionForm parse_transcription_form(const std::vector<FormPart>& parts, const std::string& task);

// The transcript as json {"text"}, text, srt, vtt or verbose_json {"task", "language", "duration",
// "text", "segments"}; `deployment` (the router's, when not empty) is added to the JSON shapes.
void send_transcript(httplib::Response& res, const Transcript& t, const TranscriptionForm& form,
                     const std::string& deployment = "");

}  // namespace ia::server
