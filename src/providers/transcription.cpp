// What the speech-to-text routes answer (OpenAI's /audio/transcriptions and /audio/translations,
// which Groq and vLLM copy), by response_format: json {"text", "usage"}; verbose_json {"task",
// "language", "duration", "text", "segments": [{"start", "end", "text", …}], "usage"}; text; and
// SubRip / WebVTT subtitles, read back into cues. Usage is {"type": "tokens", "input_tokens",
// "output_tokens"} (gpt-4o-transcribe) or {"type": "duration", "seconds"} (whisper-1, vLLM).
// Streamed (stream=true): OpenAI's transcript.text.delta / transcript.text.done events, or vLLM's
// transcription.chunk chunks ending in [DONE] (TranscriptStreamState).
#include <cmath>
#include <string_view>

#include <fmt/format.h>

#include "providers/json_fields.h"
#include "providers/provider.h"

namespace ia::providers {

namespace {

[[noreturn]] void malformed(const std::string& provider, const std::string& what) {
  throw ProviderError(FailureClass::Overloaded, 200, fmt::format("{}: the transcription answer {}", provider, what));
}

Usage transcription_usage(const nlohmann::json& j) {
  Usage u;
  auto it = j.find("usage");
  if (it == j.end() || !it->is_object()) return u;
  const std::string type = field_or(*it, "type", "");
  if (type == "duration") {
    const double s = field_or(*it, "seconds", 0.0);
    if (std::isfinite(s) && s > 0) u.audio_seconds = s;
  } else {
    u.input_tokens = std::max<int64_t>(0, field_or(*it, "input_tokens", int64_t{0}));
    u.output_tokens = std::max<int64_t>(0, field_or(*it, "output_tokens", int64_t{0}));
  }
  return u;
}

TranscriptionResult parse_json_answer(const std::string& provider, const std::string& body) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) malformed(provider, "is not a JSON object");
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    const ErrorBody b = parse_error_body(nlohmann::json{{"error", *e}}.dump());
    const std::string kind = b.type.empty() ? b.code : b.type;
    throw ProviderError(classify_error_type(kind), 200,
                        fmt::format("{}: {}{}", provider, b.message, kind.empty() ? "" : " (" + kind + ")"));
  }
  auto text = j.find("text");
  if (text == j.end() || !text->is_string()) malformed(provider, "has no \"text\"");
  TranscriptionResult r;
  r.text = text->get<std::string>();
  if (auto l = j.find("language"); l != j.end() && l->is_string()) r.language = l->get<std::string>();
  if (auto d = j.find("duration"); d != j.end() && d->is_number()) {
    const double v = d->get<double>();
    if (std::isfinite(v) && v >= 0) r.duration = v;
  }
  if (auto segs = j.find("segments"); segs != j.end() && !segs->is_null()) {
    if (!segs->is_array()) malformed(provider, "has \"segments\" that are not an array");
    for (const auto& s : *segs) {
      auto start = s.is_object() ? s.find("start") : s.end();
      auto end = s.is_object() ? s.find("end") : s.end();
      if (!s.is_object() || start == s.end() || end == s.end() || !start->is_number() || !end->is_number())
        malformed(provider, "has a segment without numeric start and end");
      TranscriptSpan span{start->get<double>(), end->get<double>(), field_or(s, "text", "")};
      if (!std::isfinite(span.start) || !std::isfinite(span.end) || span.start < 0 || span.end < span.start)
        malformed(provider, "has a segment whose times are out of order");
      r.segments.push_back(std::move(span));
    }
  }
  r.usage = transcription_usage(j);
  return r;
}

// "01:02:03,456", "02:03.456" (WebVTT may leave out the hours): seconds, or -1.
double cue_time(std::string_view t) {
  const size_t frac = t.find_last_of(",.");
  if (frac == std::string_view::npos || frac + 1 >= t.size() || t.size() - frac - 1 > 3) return -1;
  double fraction = 0, scale = 0.1;
  for (char c : t.substr(frac + 1)) {
    if (c < '0' || c > '9') return -1;
    fraction += (c - '0') * scale;
    scale /= 10;
  }
  double total = 0;
  int fields = 0;
  std::string_view rest = t.substr(0, frac);
  while (!rest.empty()) {
    const size_t colon = rest.find(':');
    const std::string_view f = rest.substr(0, colon);
    if (f.empty() || f.size() > 4) return -1;
    double v = 0;
    for (char c : f) {
      if (c < '0' || c > '9') return -1;
      v = v * 10 + (c - '0');
    }
    if (fields > 0 && v >= 60) return -1;  // minutes and seconds after the first field
    total = total * 60 + v;
    ++fields;
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    if (colon != std::string_view::npos && rest.empty()) return -1;
  }
  if (fields < 2 || fields > 3) return -1;
  return total + fraction;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  return s;
}

TranscriptionResult parse_cues(const std::string& provider, const std::string& body, bool vtt) {
  std::string_view all(body);
  if (all.substr(0, 3) == "\xEF\xBB\xBF") all.remove_prefix(3);
  if (vtt && all.substr(0, 6) != "WEBVTT") malformed(provider, "is not WebVTT (no WEBVTT header)");
  TranscriptionResult r;
  TranscriptSpan* cue = nullptr;  // the cue whose text lines are being read
  bool in_header_block = vtt;     // WEBVTT's first block, NOTE and STYLE blocks: no cues
  while (!all.empty()) {
    const size_t nl = all.find('\n');
    const std::string_view line = trim(all.substr(0, nl));
    all = nl == std::string_view::npos ? std::string_view() : all.substr(nl + 1);
    if (line.empty()) {
      cue = nullptr;
      in_header_block = false;
      continue;
    }
    if (cue) {
      cue->text += cue->text.empty() ? "" : "\n";
      cue->text += line;
      continue;
    }
    if (vtt && (line.substr(0, 4) == "NOTE" || line.substr(0, 5) == "STYLE" || line.substr(0, 6) == "REGION"))
      in_header_block = true;
    const size_t arrow = line.find("-->");
    if (arrow == std::string_view::npos || in_header_block) continue;  // a cue number (SRT) or identifier
    std::string_view end = trim(line.substr(arrow + 3));
    end = end.substr(0, end.find_first_of(" \t"));  // WebVTT cue settings follow the end time
    const double a = cue_time(trim(line.substr(0, arrow))), b = cue_time(end);
    if (a < 0 || b < 0 || b < a)
      malformed(provider, fmt::format("has a malformed cue timing `{}`", line.substr(0, 80)));
    r.segments.push_back({a, b, {}});
    cue = &r.segments.back();
  }
  for (const auto& s : r.segments) {
    std::string t = s.text;
    for (char& c : t)
      if (c == '\n') c = ' ';
    if (!t.empty()) r.text += (r.text.empty() ? "" : " ") + t;
  }
  if (!r.segments.empty()) r.duration = r.segments.back().end;
  return r;
}

}  // namespace

bool TranscriptStreamState::on_data(const std::string& provider, const std::string& data, const OnText& on_text) {
  if (data == "[DONE]") {
    done = true;
    return false;
  }
  const auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object())
    throw ProviderError(FailureClass::StreamBroken, 0,
                        fmt::format("{}: a transcription stream event is not a JSON object", provider));
  if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
    const ErrorBody b = parse_error_body(nlohmann::json{{"error", *e}}.dump());
    const std::string kind = b.type.empty() ? b.code : b.type;
    throw ProviderError(
        classify_error_type(kind), 0,
        fmt::format("{}: error inside the stream: {}{}", provider, b.message, kind.empty() ? "" : " (" + kind + ")"));
  }
  std::string delta;
  const std::string type = field_or(j, "type", "");
  if (type == "transcript.text.delta") {
    delta = field_or(j, "delta", "");
  } else if (type == "transcript.text.done") {
    auto text = j.find("text");
    if (text == j.end() || !text->is_string())
      throw ProviderError(FailureClass::StreamBroken, 0,
                          fmt::format("{}: transcript.text.done has no \"text\"", provider));
    result.text = text->get<std::string>();
    result.usage = transcription_usage(j);
    done = true;
    return false;
  } else if (auto choices = j.find("choices"); choices != j.end() && choices->is_array()) {
    // vLLM: chat-style chunks; a last one may carry usage (prompt / completion tokens).
    for (const auto& c : *choices)
      if (c.is_object() && field_or(c, "index", 0) == 0)
        if (auto d = c.find("delta"); d != c.end() && d->is_object()) delta += field_or(*d, "content", "");
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      result.usage.input_tokens = std::max<int64_t>(0, field_or(*u, "prompt_tokens", int64_t{0}));
      result.usage.output_tokens = std::max<int64_t>(0, field_or(*u, "completion_tokens", int64_t{0}));
    }
  }  // any other event (a future type): skipped, as the SDKs skip unknown events
  if (!delta.empty()) {
    result.text += delta;
    if (!on_text(delta)) {
      cancelled = true;
      return false;
    }
  }
  return true;
}

TranscriptionResult parse_transcription(const std::string& provider, const std::string& body,
                                        const std::string& response_format) {
  if (response_format == "text") {
    TranscriptionResult r;
    r.text = body;
    while (!r.text.empty() && (r.text.back() == '\n' || r.text.back() == '\r')) r.text.pop_back();
    return r;
  }
  if (response_format == "srt" || response_format == "vtt") return parse_cues(provider, body, response_format == "vtt");
  return parse_json_answer(provider, body);
}

}  // namespace ia::providers
