// OpenAI's audio routes: POST /v1/audio/transcriptions and /v1/audio/translations, multipart
// uploads as the SDKs send them (file, model, language, prompt, response_format, temperature,
// timestamp_granularities[]). The upload is decoded by the audio front end (every bad file is a
// 400 naming it), resampled to the model's rate and transcribed by the model's SpeechRecognizer,
// one request at a time per model; the answer is json, text, srt, vtt or verbose_json, or with
// stream=true (json, text) OpenAI's transcript.text.delta / .done events as the text comes
// (transcript_stream.h). A routed
// model name (serve --providers) goes through the router instead (gateway_routes.cpp), whose
// remote answers are written by the same send_transcript.
#include <chrono>
#include <cmath>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "preprocess/audio/audio_loader.h"
#include "router/result_json.h"
#include "server/api_error.h"
#include "server/route_handler.h"
#include "server/routes.h"
#include "server/transcript_stream.h"
#include "server/transcription_form.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

std::string field(const std::vector<FormPart>& parts, const char* name, size_t max_bytes = 4096) {
  const FormPart* p = find_part(parts, name);
  if (!p) return {};
  if (p->data.size() > max_bytes)
    throw invalid_field(name, fmt::format("`{}` is longer than {} bytes", name, max_bytes));
  return std::string(p->data);
}

// 00:01:02,345 (SRT) or 00:01:02.345 (WebVTT).
std::string clock_time(double seconds, char separator) {
  const auto ms = static_cast<int64_t>(std::llround(std::max(0.0, seconds) * 1000));
  return fmt::format("{:02}:{:02}:{:02}{}{:03}", ms / 3'600'000, ms / 60'000 % 60, ms / 1000 % 60, separator,
                     ms % 1000);
}

// A cue's text as Whisper's subtitle writers give it: without the segment's leading space, and
// with no "-->" that would read as a timing line.
std::string cue_text(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  std::string out(text);
  for (size_t at = out.find("-->"); at != std::string::npos; at = out.find("-->", at)) out.replace(at, 3, "->");
  return out;
}

// A transcript's cues: its segments, or one cue over the whole audio when the model gives none.
std::vector<TranscriptSegment> cues(const Transcript& t) {
  if (!t.segments.empty()) return t.segments;
  return {TranscriptSegment{0, t.duration, t.text}};
}

}  // namespace

void local_transcription(ServerState& s, const TranscriptionForm& form, httplib::Response& res,
                         const std::string& deployment) {
  const auto arrived = Clock::now();
  const ServedLease lease = s.model_for(form.model, ModelUse::Transcription);
  ServedModel& m = *lease;
  TranscriptionOptions o;
  o.task = form.task;
  o.language = form.language;
  o.prompt = form.prompt;
  o.temperature = form.temperature;
  o.timestamps = form.segment_timestamps;
  // Subtitles and verbose_json carry segments: timed ones wherever the model can give them (Whisper).
  if ((form.format == "srt" || form.format == "vtt" || form.format == "verbose_json") && m.speech->gives_timestamps())
    o.timestamps = true;

  audio::AudioLimits limits;
  limits.kind = ErrorKind::InvalidArgument;  // every bad upload is the client's
  const std::string name = form.file->filename.value_or("file");
  const audio::AudioClip clip = audio::load_audio_bytes(
      std::span(reinterpret_cast<const uint8_t*>(form.file->data.data()), form.file->data.size()), name,
      m.speech->sampling_rate(), limits);
  if (form.stream) {
    // The text as the model makes it final; the done event carries the audio's duration as usage
    // (what OpenAI bills whisper-1 by).
    stream_transcript(s, res, [&s, &m, arrived, o, samples = clip.samples](const OnDelta& on_delta) mutable {
      o.on_text = on_delta;
      std::lock_guard lock(*m.speech_mu);
      const auto started = Clock::now();
      s.metrics.observe(metric::kQueueSeconds, {{"model", m.name}},
                        std::chrono::duration<double>(started - arrived).count());
      const Transcript t = m.speech->transcribe(samples, o);
      s.metrics.observe(metric::kInferenceSeconds, {{"model", m.name}},
                        std::chrono::duration<double>(Clock::now() - started).count());
      return StreamedTranscript{t.text, json{{"type", "duration"}, {"seconds", t.duration}}};
    });
    if (!deployment.empty()) res.set_header("X-IA-Deployment", deployment);
    return;
  }
  Transcript t;
  {
    std::lock_guard lock(*m.speech_mu);
    ChargeMemoryTo charge(m.memory);  // the model's memory account (runtime/model_pool.h)
    const auto started = Clock::now();
    s.metrics.observe(metric::kQueueSeconds, {{"model", m.name}},
                      std::chrono::duration<double>(started - arrived).count());
    t = m.speech->transcribe(clip.samples, o);
    s.metrics.observe(metric::kInferenceSeconds, {{"model", m.name}},
                      std::chrono::duration<double>(Clock::now() - started).count());
  }
  send_transcript(res, t, form, deployment);
}

namespace {

void transcribe(ServerState& s, const httplib::Request& req, const std::vector<FormPart>& parts, httplib::Response& res,
                const std::string& task) {
  if (!route_transcription(s, req, parts, res, task))
    local_transcription(s, parse_transcription_form(parts, task), res);
}

}  // namespace

TranscriptionForm parse_transcription_form(const std::vector<FormPart>& parts, const std::string& task) {
  TranscriptionForm f;
  f.task = task;
  f.file = find_part(parts, "file");
  if (!f.file) throw invalid_field("file", "`file` (the audio) is required");
  f.model = field(parts, "model", 256);
  if (const std::string lang = field(parts, "language", 16); !lang.empty()) f.language = lang;
  f.prompt = field(parts, "prompt", 1 << 16);
  if (const std::string t = field(parts, "temperature", 32); !t.empty()) {
    char* end = nullptr;
    const double v = std::strtod(t.c_str(), &end);
    if (end == t.c_str() || *end != '\0' || !(v >= 0 && v <= 1))
      throw invalid_field("temperature", "`temperature` must be a number in [0, 1]");
    f.temperature = static_cast<float>(v);
  }
  f.format = field(parts, "response_format", 32);
  if (f.format.empty()) f.format = "json";
  if (f.format != "json" && f.format != "text" && f.format != "srt" && f.format != "vtt" && f.format != "verbose_json")
    throw invalid_field("response_format", "`response_format` must be json, text, srt, vtt or verbose_json");
  for (const auto& p : parts)
    if (p.name == "timestamp_granularities[]" || p.name == "timestamp_granularities") {
      if (p.data == "segment") {
        f.segment_timestamps = true;
      } else {
        throw invalid_field("timestamp_granularities",
                            fmt::format("timestamp granularity \"{}\" is not supported (only \"segment\")", p.data));
      }
    }
  if (f.segment_timestamps && f.format != "verbose_json")
    throw invalid_field("timestamp_granularities", "`timestamp_granularities` needs `response_format` verbose_json");
  if (const std::string v = field(parts, "stream", 8); !v.empty()) {
    if (v != "true" && v != "false" && v != "True" && v != "False" && v != "1" && v != "0")
      throw invalid_field("stream", "`stream` must be true or false");
    f.stream = v == "true" || v == "True" || v == "1";
  }
  // As OpenAI's API: the streamed events carry text, so only the formats without timings stream.
  if (f.stream && f.format != "json" && f.format != "text")
    throw invalid_field("stream",
                        fmt::format("`stream` is not supported with response_format {} (json or text)", f.format));
  return f;
}

void send_transcript(httplib::Response& res, const Transcript& t, const TranscriptionForm& form,
                     const std::string& deployment) {
  const std::string& format = form.format;
  if (format == "text") {
    res.status = 200;
    res.set_content(t.text + "\n", "text/plain; charset=utf-8");
    return;
  }
  if (format == "srt" || format == "vtt") {
    std::string out = format == "vtt" ? "WEBVTT\n\n" : "";
    size_t i = 0;
    for (const auto& c : cues(t)) {
      const char sep = format == "vtt" ? '.' : ',';
      if (format == "srt") out += std::to_string(++i) + "\n";
      out += clock_time(c.start, sep) + " --> " + clock_time(c.end, sep) + "\n" + cue_text(c.text) + "\n\n";
    }
    res.status = 200;
    res.set_content(out, format == "vtt" ? "text/vtt; charset=utf-8" : "application/x-subrip; charset=utf-8");
    return;
  }
  json out{{"text", t.text}};
  if (format == "verbose_json") {
    json segments = json::array();
    for (size_t i = 0; i < t.segments.size(); ++i)
      segments.push_back(
          {{"id", i}, {"start", t.segments[i].start}, {"end", t.segments[i].end}, {"text", t.segments[i].text}});
    out = json{{"task", form.task},
               {"language", t.language ? json(*t.language) : json(nullptr)},
               {"duration", t.duration},
               {"text", t.text},
               {"segments", segments}};
  }
  if (!deployment.empty()) out["deployment"] = deployment;
  send_json(res, router::dump_json(out));
}

void add_audio_routes(httplib::Server& http, ServerState& state) {
  add_form_route(http, state, "/v1/audio/transcriptions",
                 [&state](const httplib::Request& req, httplib::Response& res, const std::vector<FormPart>& parts) {
                   transcribe(state, req, parts, res, "transcribe");
                 });
  add_form_route(http, state, "/v1/audio/translations",
                 [&state](const httplib::Request& req, httplib::Response& res, const std::vector<FormPart>& parts) {
                   transcribe(state, req, parts, res, "translate");
                 });
}

}  // namespace ia::server
