// Speech to text through the providers: the multipart upload as the OpenAI SDK sends it (checked
// part by part by the fake), every response_format read back, translations, the services that
// have the route and the ones that do not, the client's retries and cost for it, and the answer
// parser's refusals; streamed transcriptions (stream=true): deltas as they come, never replayed
// once one reached the caller, whisper-1's whole answer, vLLM's chunk shape; OVMS's /v3 routes.
#include <gtest/gtest.h>

#include "fake_config.h"
#include "providers/form_data.h"

namespace ia::providers {
namespace {

using std::chrono::milliseconds;
using test::FakeProtocol;
using test::FakeProvider;
using test::FakeStep;

// Bytes that would break a careless multipart writer: NULs, CRLFs and a boundary-like line.
std::string awkward_audio() {
  std::string a = "RIFF\x24\x00\x00\x00WAVEfmt ";
  a.push_back('\0');
  a += "\r\n--not-the-boundary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nx\r\n";
  for (int i = 0; i < 4096; ++i) a.push_back(static_cast<char>(i * 7));
  return a;
}

TranscribeCall call_for(const std::string& model, const std::string& format = "json") {
  TranscribeCall c;
  c.model = model;
  c.audio = awkward_audio();
  c.filename = "meeting \"q3\".wav";
  c.content_type = "audio/wav";
  c.language = "en";
  c.prompt = "ipfs-accelerate, Whisper";
  c.temperature = 0.2;
  c.response_format = format;
  return c;
}

TEST(ProviderTranscription, OpenAIUploadIsTheSdksMultipartForm) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-good"});
  ProviderClient client(make_provider(fake_config("openai", fake, {"sk-good"})));
  ASSERT_TRUE(client.provider().supports(Capability::Transcription));
  const TranscriptionResult r = client.transcribe(call_for("gpt-4o-transcribe"));
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_EQ(r.usage.input_tokens, 14);
  EXPECT_EQ(r.usage.output_tokens, 3);
  EXPECT_FALSE(r.language);
  EXPECT_TRUE(r.segments.empty());

  const auto req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1/audio/transcriptions");
  EXPECT_EQ(req.header("Authorization"), "Bearer sk-good");
  EXPECT_EQ(req.header("Content-Type").rfind("multipart/form-data; boundary=", 0), 0u);
  ASSERT_NE(req.part("file"), nullptr);
  EXPECT_EQ(req.part("file")->content, awkward_audio());
  EXPECT_EQ(req.part("file")->filename, "meeting %22q3%22.wav");  // quoted as browsers and httpx do
  EXPECT_EQ(req.part("file")->content_type, "audio/wav");
  ASSERT_NE(req.part("model"), nullptr);
  EXPECT_EQ(req.part("model")->content, "gpt-4o-transcribe");
  EXPECT_TRUE(req.part("model")->filename.empty());
  EXPECT_EQ(req.part("language")->content, "en");
  EXPECT_EQ(req.part("prompt")->content, "ipfs-accelerate, Whisper");
  EXPECT_EQ(req.part("temperature")->content, "0.2");
  EXPECT_EQ(req.part("response_format")->content, "json");
  EXPECT_EQ(client.stats()["gpt-4o-transcribe"].tokens_in, 14);
}

TEST(ProviderTranscription, EveryResponseFormatIsReadBack) {
  FakeProvider fake(FakeProtocol::OpenAI);
  auto p = make_provider(fake_config("vllm", fake));
  TranscribeCall c = call_for("openai/whisper-large-v3", "verbose_json");
  c.timestamp_granularities = {"segment"};
  TranscriptionResult v = p->transcribe(c, "", nullptr);
  EXPECT_EQ(v.text, "Hello world");
  EXPECT_EQ(v.language, "english");
  EXPECT_EQ(v.duration, 2.5);
  ASSERT_EQ(v.segments.size(), 2u);
  EXPECT_EQ(v.segments[1].start, 0.96);
  EXPECT_EQ(v.segments[1].end, 2.5);
  EXPECT_EQ(v.segments[1].text, " world");
  EXPECT_EQ(v.usage.audio_seconds, 3);
  EXPECT_EQ(fake.requests().back().part("timestamp_granularities[]")->content, "segment");
  EXPECT_TRUE(fake.requests().back().header("Authorization").empty());  // a local vLLM without --api-key

  EXPECT_EQ(p->transcribe(call_for("m", "text"), "", nullptr).text, "Hello world");
  for (const char* format : {"srt", "vtt"}) {
    const TranscriptionResult s = p->transcribe(call_for("m", format), "", nullptr);
    EXPECT_EQ(s.text, "Hello world") << format;
    ASSERT_EQ(s.segments.size(), 2u) << format;
    EXPECT_EQ(s.segments[0].text, "Hello");
    EXPECT_DOUBLE_EQ(s.segments[0].end, 0.96);
    EXPECT_DOUBLE_EQ(*s.duration, 2.5);
  }
}

TEST(ProviderTranscription, TranslationsGoToTheirRouteWithoutALanguage) {
  FakeProvider fake(FakeProtocol::OpenAI, {"gsk-1"});
  auto p = make_provider(fake_config("groq", fake, {"gsk-1"}));
  TranscribeCall c = call_for("whisper-large-v3");
  c.task = "translate";
  c.timestamp_granularities = {"segment"};
  EXPECT_EQ(p->transcribe(c, "gsk-1", nullptr).text, "Hello world");
  const auto req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1/audio/translations");
  EXPECT_EQ(req.part("language"), nullptr);  // the translations API has none (the fake refuses it)
  EXPECT_EQ(req.part("timestamp_granularities[]"), nullptr);
  EXPECT_EQ(req.part("model")->content, "whisper-large-v3");
}

TEST(ProviderTranscription, ServicesWithoutTheRouteAreUnsupported) {
  FakeProvider fake(FakeProtocol::OpenAI);
  for (const char* type : {"anthropic", "ollama", "tgi", "tei", "gemini", "opea"}) {
    ProviderClient client(make_provider(fake_config(type, fake)));
    EXPECT_FALSE(client.provider().supports(Capability::Transcription)) << type;
    try {
      client.transcribe(call_for("m"));
      ADD_FAILURE() << type << " transcribed";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Unsupported) << type;
      EXPECT_NE(std::string(e.what()).find("has no transcription API"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(fake.request_count(), 0u);
  for (const char* type : {"openai", "groq", "vllm", "ovms"})
    EXPECT_TRUE(make_provider(fake_config(type, fake))->supports(Capability::Transcription)) << type;
}

TEST(ProviderTranscription, RetriedAfterRetryAfterAndCallerErrorsAreFinal) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));
  FakeStep limited{FakeStep::HttpError, 429};
  limited.headers = {{"retry-after", "2"}};
  fake.script({limited});
  EXPECT_EQ(client->transcribe(call_for("whisper-1")).text, "Hello world");
  EXPECT_EQ(fake.call_count(), 2u);
  ASSERT_EQ(client.waits.size(), 1u);
  EXPECT_EQ(client.waits[0], milliseconds(2000));
  // The upload went again, whole.
  EXPECT_EQ(fake.requests().back().part("file")->content, awkward_audio());

  fake.script({FakeStep{FakeStep::HttpError, 400}});
  try {
    client->transcribe(call_for("whisper-1"));
    ADD_FAILURE() << "a 400 succeeded";
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::CallerFault);
    EXPECT_NE(std::string(e.what()).find("fake error 400"), std::string::npos) << e.what();
  }
  EXPECT_EQ(fake.call_count(), 3u);
}

TEST(ProviderTranscription, CostFromTokensOrAudioMinutes) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("openai", fake);
  c.prices["gpt-4o-transcribe"] = {2.5, 10.0, 0};
  c.prices["whisper-1"] = {0, 0, 0.006};
  ProviderClient client(make_provider(c));
  client.transcribe(call_for("gpt-4o-transcribe"));          // 14 tokens in, 3 out
  client.transcribe(call_for("whisper-1", "verbose_json"));  // {"type": "duration", "seconds": 3}
  client.transcribe(call_for("whisper-1", "text"));          // no usage: nothing to price
  auto s = client.stats();
  EXPECT_DOUBLE_EQ(s["gpt-4o-transcribe"].cost_usd, (14 * 2.5 + 3 * 10.0) / 1e6);
  EXPECT_DOUBLE_EQ(s["whisper-1"].cost_usd, 3.0 / 60 * 0.006);
}

TEST(ProviderTranscription, MalformedAnswersAreTheProvidersFailure) {
  auto refused = [](const std::string& body, const std::string& format) {
    try {
      parse_transcription("p", body, format);
      return std::string("parsed");
    } catch (const ProviderError& e) {
      EXPECT_EQ(e.failure(), FailureClass::Overloaded) << body;
      return std::string(e.what());
    }
  };
  EXPECT_NE(refused("<html>", "json").find("not a JSON object"), std::string::npos);
  EXPECT_NE(refused(R"({"txt":"a"})", "json").find("no \"text\""), std::string::npos);
  EXPECT_NE(refused(R"({"text":"a","segments":{}})", "verbose_json").find("not an array"), std::string::npos);
  EXPECT_NE(refused(R"({"text":"a","segments":[{"start":"0","end":1}]})", "verbose_json").find("numeric"),
            std::string::npos);
  EXPECT_NE(refused(R"({"text":"a","segments":[{"start":2,"end":1}]})", "verbose_json").find("out of order"),
            std::string::npos);
  EXPECT_NE(refused("1\n00:00:xx,000 --> 00:00:01,000\nhi\n", "srt").find("malformed cue timing"), std::string::npos);
  EXPECT_NE(refused("00:00.000 --> 00:01.000\nhi\n", "vtt").find("no WEBVTT header"), std::string::npos);
  // An error object inside a 200 answer keeps its class.
  try {
    parse_transcription("p", R"({"error":{"message":"bad audio","type":"invalid_request_error"}})", "json");
    ADD_FAILURE();
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::CallerFault);
  }
  // WebVTT without hours, cue settings, NOTE blocks, CRLF; an empty transcript has no cues.
  const auto v = parse_transcription("p",
                                     "\xEF\xBB\xBFWEBVTT\r\n\r\nNOTE made --> by hand\r\n\r\nc1\r\n01:02.500 --> "
                                     "01:04.000 align:start\r\nHi\r\nthere\r\n",
                                     "vtt");
  ASSERT_EQ(v.segments.size(), 1u);
  EXPECT_DOUBLE_EQ(v.segments[0].start, 62.5);
  EXPECT_EQ(v.segments[0].text, "Hi\nthere");
  EXPECT_EQ(v.text, "Hi there");
  EXPECT_TRUE(parse_transcription("p", "", "srt").segments.empty());
  EXPECT_EQ(parse_transcription("p", "Hello\r\n", "text").text, "Hello");
}

std::vector<std::string> collect_stream(ProviderClient& client, const TranscribeCall& c, TranscriptionResult* out) {
  std::vector<std::string> deltas;
  *out = client.transcribe(c, Priority::Normal, [&](std::string_view d) {
    deltas.emplace_back(d);
    return true;
  });
  return deltas;
}

TEST(ProviderTranscription, StreamedDeltasComeAsTheServiceSendsThem) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-good"});
  ProviderClient client(make_provider(fake_config("openai", fake, {"sk-good"})));
  TranscriptionResult r;
  const auto deltas = collect_stream(client, call_for("gpt-4o-transcribe"), &r);
  EXPECT_EQ(deltas, FakeProvider::kDeltas);
  EXPECT_EQ(r.text, "Hello world");  // the done event's
  EXPECT_EQ(r.usage.input_tokens, 14);
  EXPECT_EQ(r.usage.output_tokens, 3);
  const auto req = fake.requests().back();
  ASSERT_NE(req.part("stream"), nullptr);
  EXPECT_EQ(req.part("stream")->content, "true");
  EXPECT_EQ(req.header("Accept"), "text/event-stream");
  EXPECT_EQ(req.part("file")->content, awkward_audio());

  // whisper-1 ignores stream and answers whole: its text is one delta.
  const auto whole = collect_stream(client, call_for("whisper-1"), &r);
  EXPECT_EQ(whole, std::vector<std::string>{"Hello world"});
  EXPECT_EQ(r.text, "Hello world");

  // Translations have no stream field: asked whole, given as one delta.
  TranscribeCall t = call_for("gpt-4o-transcribe");
  t.task = "translate";
  EXPECT_EQ(collect_stream(client, t, &r), std::vector<std::string>{"Hello world"});
  EXPECT_EQ(fake.requests().back().part("stream"), nullptr);

  // Subtitles cannot stream: refused before any call.
  const size_t calls = fake.call_count();
  try {
    collect_stream(client, call_for("gpt-4o-transcribe", "srt"), &r);
    ADD_FAILURE() << "a streamed srt was sent";
  } catch (const ProviderError& e) {
    EXPECT_EQ(e.failure(), FailureClass::CallerFault);
  }
  EXPECT_EQ(fake.call_count(), calls);
}

TEST(ProviderTranscription, AStreamIsRetriedOnlyBeforeItsFirstDelta) {
  FakeProvider fake(FakeProtocol::OpenAI);
  RecordingClient client(fake_config("openai", fake));
  // Cut before any delta: nothing reached the caller, so it is tried again, whole.
  FakeStep empty{FakeStep::CutStream};
  empty.after_deltas = 0;
  fake.script({empty});
  TranscriptionResult r;
  EXPECT_EQ(collect_stream(*client.client, call_for("gpt-4o-transcribe"), &r), FakeProvider::kDeltas);
  EXPECT_EQ(fake.call_count(), 2u);

  // Cut after a delta: final (never replayed), the caller has exactly what was sent.
  FakeStep cut{FakeStep::CutStream};
  cut.after_deltas = 1;
  fake.script({cut});
  std::vector<std::string> got;
  try {
    client->transcribe(call_for("gpt-4o-transcribe"), Priority::Normal, [&](std::string_view d) {
      got.emplace_back(d);
      return true;
    });
    ADD_FAILURE() << "a cut stream succeeded";
  } catch (const ProviderError& e) {
    // The connection closed mid-body (curl: a partial transfer): a transport failure, retryable
    // had nothing been forwarded.
    EXPECT_TRUE(is_retryable(e.failure())) << e.what();
  }
  EXPECT_EQ(got, std::vector<std::string>{"Hel"});
  EXPECT_EQ(fake.call_count(), 3u);

  // An error event after two deltas: the service's failure, not replayed either.
  FakeStep err{FakeStep::ErrorInStream};
  err.after_deltas = 2;
  fake.script({err});
  got.clear();
  try {
    client->transcribe(call_for("gpt-4o-transcribe"), Priority::Normal, [&](std::string_view d) {
      got.emplace_back(d);
      return true;
    });
    ADD_FAILURE() << "an error event was ignored";
  } catch (const ProviderError& e) {
    EXPECT_NE(std::string(e.what()).find("fake failure mid-stream"), std::string::npos) << e.what();
  }
  EXPECT_EQ(got, (std::vector<std::string>{"Hel", "lo"}));
  EXPECT_EQ(fake.call_count(), 4u);
}

TEST(ProviderTranscription, StreamEventsOfOpenAIAndVllm) {
  std::string text;
  const OnText on = [&](std::string_view d) {
    text += d;
    return true;
  };
  // vLLM: chat-style transcription.chunk chunks, usage in the last, then [DONE].
  TranscriptStreamState v;
  EXPECT_TRUE(
      v.on_data("v", R"({"id":"trsc-1","object":"transcription.chunk","choices":[{"delta":{"content":" Hel"}}]})", on));
  EXPECT_TRUE(v.on_data(
      "v",
      R"({"object":"transcription.chunk","choices":[{"delta":{"content":"lo"},"finish_reason":"stop"}],"usage":{"prompt_tokens":7,"completion_tokens":2}})",
      on));
  EXPECT_FALSE(v.on_data("v", "[DONE]", on));
  EXPECT_TRUE(v.done);
  EXPECT_EQ(text, " Hello");
  EXPECT_EQ(v.result.text, " Hello");
  EXPECT_EQ(v.result.usage.output_tokens, 2);
  // OpenAI: unknown event types are skipped; done carries the text and duration usage.
  text.clear();
  TranscriptStreamState o;
  EXPECT_TRUE(o.on_data("o", R"({"type":"transcript.text.delta","delta":"Hi","logprobs":[]})", on));
  EXPECT_TRUE(o.on_data("o", R"({"type":"transcript.text.segment","text":"ignored"})", on));
  EXPECT_FALSE(
      o.on_data("o", R"({"type":"transcript.text.done","text":"Hi","usage":{"type":"duration","seconds":4}})", on));
  EXPECT_EQ(text, "Hi");
  EXPECT_EQ(o.result.usage.audio_seconds, 4);
  // Malformed: not JSON, a done without text.
  TranscriptStreamState bad;
  EXPECT_THROW(bad.on_data("b", "<html>", on), ProviderError);
  EXPECT_THROW(bad.on_data("b", R"({"type":"transcript.text.done"})", on), ProviderError);
  // A caller that stops reading stops the stream.
  TranscriptStreamState stop;
  EXPECT_FALSE(
      stop.on_data("s", R"({"type":"transcript.text.delta","delta":"x"})", [](std::string_view) { return false; }));
  EXPECT_TRUE(stop.cancelled);
}

TEST(ProviderTranscription, OvmsServesTheRoutesUnderV3) {
  FakeProvider fake(FakeProtocol::OpenAI);
  ProviderConfig c = fake_config("ovms", fake);
  c.base_url = fake.url() + "/v3";  // OVMS's OpenAI-compatible base
  ProviderClient client(make_provider(c));
  ASSERT_TRUE(client.provider().supports(Capability::Transcription));
  TranscribeCall call = call_for("openai/whisper-large-v3-turbo", "verbose_json");
  const TranscriptionResult r = client.transcribe(call);
  EXPECT_EQ(r.text, "Hello world");
  EXPECT_EQ(r.segments.size(), 2u);
  EXPECT_EQ(fake.requests().back().path, "/v3/audio/transcriptions");
  call.task = "translate";
  call.response_format = "json";
  EXPECT_EQ(client.transcribe(call).text, "Hello world");
  EXPECT_EQ(fake.requests().back().path, "/v3/audio/translations");
  // OVMS documents no streamed transcription: asked whole, given as one delta.
  call.task = "transcribe";
  TranscriptionResult s;
  EXPECT_EQ(collect_stream(client, call, &s), std::vector<std::string>{"Hello world"});
  EXPECT_EQ(fake.requests().back().part("stream"), nullptr);
}

TEST(ProviderTranscription, FormDataBoundaryNeverOccursInAPart) {
  FormData f;
  f.add_field("model", "m");
  f.add_file("file", "a\r\nb\\c.wav", "", "xyz");
  const auto e = f.encode();
  const std::string boundary = e.content_type.substr(e.content_type.find('=') + 1);
  EXPECT_EQ(boundary.size(), 32u);
  EXPECT_EQ(e.body.rfind("--" + boundary + "--\r\n"), e.body.size() - boundary.size() - 6);
  EXPECT_NE(e.body.find("filename=\"a%0D%0Ab\\\\c.wav\"\r\nContent-Type: application/octet-stream\r\n\r\nxyz\r\n"),
            std::string::npos)
      << e.body;
  EXPECT_EQ(audio_content_type("x.MP3"), "audio/mpeg");
  EXPECT_EQ(audio_content_type("x.flac"), "audio/flac");
  EXPECT_EQ(audio_content_type("noext"), "application/octet-stream");
}

}  // namespace
}  // namespace ia::providers
