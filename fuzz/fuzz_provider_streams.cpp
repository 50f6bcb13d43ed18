// libFuzzer target for what a remote provider sends back: the bytes of a streamed answer
// through the SSE reader and each provider's event handling (OpenAI family, Anthropic's named
// events, Gemini, TGI's token events, OPEA's Python-bytes payloads), the NDJSON reader with
// Ollama's lines, error bodies, retry hints, S3's ListObjectsV2 and ListParts XML, transcription
// answers in every response_format (JSON, text, SubRip, WebVTT), streamed transcriptions
// (OpenAI's transcript.text.* events, vLLM's chunks) and the spend file. The input is split at
// a byte chosen from its first byte, so events straddling reads are covered. Any input must
// either parse or throw an ia::Error (a ProviderError for a broken stream); anything else (a
// crash, a sanitizer report, text longer than the bytes received) is a bug.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/error.h"
#include "providers/anthropic_provider.h"
#include "providers/gemini_provider.h"
#include "providers/ollama_provider.h"
#include "providers/opea_provider.h"
#include "providers/openai_compatible.h"
#include "providers/retry_hints.h"
#include "providers/s3_client.h"
#include "providers/spend_store.h"
#include "providers/stream_readers.h"
#include "providers/tgi_provider.h"

namespace {

using namespace ia::providers;

void check(bool ok) {
  if (!ok) std::abort();
}

template <typename F>
void guarded(F&& f) {
  try {
    f();
  } catch (const ia::Error& e) {
    check(e.kind() != ia::ErrorKind::Internal);
  }
}

// Feeds `data` in two reads split at `cut`, then finishes.
template <typename Reader>
void feed(Reader& r, std::string_view data, size_t cut) {
  if (r.feed(data.substr(0, cut))) r.feed(data.substr(cut));
  r.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const std::string_view all(reinterpret_cast<const char*>(bytes), size);
  const size_t cut = static_cast<size_t>(bytes[0]) * size / 256;
  const std::string_view data = all.substr(1);
  size_t forwarded = 0;
  const OnText on_text = [&](std::string_view d) {
    forwarded += d.size();
    return true;
  };

  guarded([&] {
    OpenAIStreamState st;
    SseReader r([&](const SseEvent& e) { return st.on_data("fuzz", e.data, true, on_text); }, 1 << 16);
    feed(r, data, cut);
  });
  guarded([&] {
    AnthropicStreamState st;
    SseReader r([&](const SseEvent& e) { return st.on_event("fuzz", e.event, e.data, on_text); }, 1 << 16);
    feed(r, data, cut);
  });
  guarded([&] {
    GeminiStreamState st;
    SseReader r([&](const SseEvent& e) { return st.on_data("fuzz", e.data, on_text); }, 1 << 16);
    feed(r, data, cut);
  });
  guarded([&] {
    TgiStreamState st;
    SseReader r([&](const SseEvent& e) { return st.on_data("fuzz", e.data, on_text); }, 1 << 16);
    feed(r, data, cut);
  });
  guarded([&] {
    TranscriptStreamState st;
    SseReader r([&](const SseEvent& e) { return st.on_data("fuzz", e.data, on_text); }, 1 << 16);
    feed(r, data, cut);
  });
  guarded([&] {
    OllamaStreamState st;
    LineReader r([&](std::string_view l) { return st.on_line("fuzz", l, true, on_text); }, 1 << 16);
    feed(r, data, cut);
  });
  guarded([&] {
    SseReader r(
        [&](const SseEvent& e) {
          if (auto t = decode_python_bytes(e.data)) check(t->size() <= e.data.size());
          return true;
        },
        1 << 16);
    feed(r, data, cut);
  });
  // Every forwarded byte came from the input (no reader invents text).
  check(forwarded <= 7 * data.size());

  const std::string text(data);
  guarded([&] { parse_error_body(text); });
  guarded([&] { gemini_retry_delay(text); });
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  if (auto d = parse_retry_after(text, now)) check(d->count() >= 0);
  if (auto d = parse_go_duration(text)) check(d->count() >= 0);
  if (auto d = parse_rfc3339_delay(text, now)) check(d->count() >= 0);
  for (const char* format : {"json", "verbose_json", "text", "srt", "vtt"})
    guarded([&] {
      const TranscriptionResult r = parse_transcription("fuzz", text, format);
      check(r.text.size() <= text.size());
      for (const auto& s : r.segments) check(s.start >= 0 && s.end >= s.start && s.text.size() <= text.size());
    });
  guarded([&] {
    for (const auto& [provider, periods] : parse_spend_file(text, "fuzz"))
      for (const auto& [period, models] : periods)
        for (const auto& [model, usd] : models) check(usd >= 0);
  });
  guarded([&] {
    const S3ListPage p = parse_list_objects_v2(text);
    for (const auto& o : p.objects) check(o.key.size() <= text.size());
  });
  guarded([&] {
    const S3PartsPage p = parse_list_parts(text);
    for (const auto& part : p.parts) check(part.number >= 1 && part.number <= 10000 && part.etag.size() <= text.size());
    if (p.next_marker) check(*p.next_marker >= 1 && *p.next_marker <= 10000);
  });
  return 0;
}
