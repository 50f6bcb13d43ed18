// `serve` with a speech model: /v1/audio/transcriptions as the OpenAI SDKs upload to it
// (multipart), in every response_format, and the refusals (not audio, not multipart, a model
// that does not transcribe, translation by a CTC model); with the Whisper folder,
// /v1/audio/transcriptions and /v1/audio/translations give the text the model gives in process,
// whole or streamed (stream=true: transcript.text.delta events that join to exactly that text);
// with the CLAP folder, /v1/embeddings embeds {"audio": data URL} and text items as `embed` does.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/base64.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"
#include "preprocess/audio/audio_loader.h"
#include "runtime/speech_recognizer.h"

namespace ia::test {
namespace {

using nlohmann::json;

const std::string kModels = std::string(IA_FIXTURES_DIR) + "/models/";

class ServeAudio : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServeProcess({"-m", kModels + "wav2vec2", "-m", kModels + "llama"}); }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }
  static HttpAnswer upload(const std::string& path, const std::string& audio, httplib::MultipartFormDataItems fields) {
    fields.push_back({"file", audio, "clip.wav", "audio/wav"});
    auto c = server_->client();
    auto r = c.Post(path.c_str(), fields);
    HttpAnswer a;
    if (r) {
      a.status = r->status;
      a.body = r->body;
      a.headers = r->headers;
    }
    return a;
  }
  static ServeProcess* server_;
};
ServeProcess* ServeAudio::server_ = nullptr;

TEST_F(ServeAudio, TranscriptionsInEveryFormat) {
  const json ref = json::parse(read_file(kModels + "wav2vec2/reference.json"));
  const std::string text = ref["ctc_text"];
  const std::string wav = read_file(kModels + "wav2vec2/audio.wav");
  HttpAnswer a = upload("/v1/audio/transcriptions", wav, {{"model", "wav2vec2", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), json({{"text", text}}));
  a = upload("/v1/audio/transcriptions", wav, {{"model", "wav2vec2", "", ""}, {"response_format", "text", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, text + "\n");
  a = upload("/v1/audio/transcriptions", wav,
             {{"model", "wav2vec2", "", ""}, {"response_format", "verbose_json", "", ""}, {"language", "en", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["text"], text);
  EXPECT_EQ(a.json()["task"], "transcribe");
  EXPECT_EQ(a.json()["language"], "en");
  EXPECT_NEAR(a.json()["duration"].get<double>(), 1.0, 1e-6);
  a = upload("/v1/audio/transcriptions", wav, {{"model", "wav2vec2", "", ""}, {"response_format", "srt", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, "1\n00:00:00,000 --> 00:00:01,000\n" + text + "\n\n");
  a = upload("/v1/audio/transcriptions", wav, {{"model", "wav2vec2", "", ""}, {"response_format", "vtt", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\n" + text + "\n\n");
}

TEST_F(ServeAudio, RefusalsAre400s) {
  const std::string wav = read_file(kModels + "wav2vec2/audio.wav");
  struct Case {
    std::string path, audio;
    httplib::MultipartFormDataItems fields;
    std::string param;
  };
  for (const Case& c :
       std::vector<Case>{{"/v1/audio/transcriptions", "not audio at all", {{"model", "wav2vec2", "", ""}}, ""},
                         {"/v1/audio/transcriptions", "", {{"model", "wav2vec2", "", ""}}, ""},
                         {"/v1/audio/transcriptions", wav.substr(0, 40), {{"model", "wav2vec2", "", ""}}, ""},
                         {"/v1/audio/transcriptions", wav, {{"model", "llama", "", ""}}, "model"},
                         {"/v1/audio/translations", wav, {{"model", "wav2vec2", "", ""}}, ""},
                         {"/v1/audio/transcriptions",
                          wav,
                          {{"model", "wav2vec2", "", ""}, {"response_format", "pdf", "", ""}},
                          "response_format"},
                         {"/v1/audio/transcriptions",
                          wav,
                          {{"model", "wav2vec2", "", ""}, {"timestamp_granularities[]", "word", "", ""}},
                          "timestamp_granularities"},
                         {"/v1/audio/transcriptions",
                          wav,
                          {{"model", "wav2vec2", "", ""}, {"temperature", "hot", "", ""}},
                          "temperature"}}) {
    const HttpAnswer a = upload(c.path, c.audio, c.fields);
    EXPECT_EQ(a.status, 400) << c.path << " " << a.body;
    const json e = json::parse(a.body, nullptr, false);
    ASSERT_TRUE(e.is_object() && e["error"].is_object()) << a.body;
    if (!c.param.empty()) {
      EXPECT_EQ(e["error"]["param"], c.param) << a.body;
    }
  }
  // Not multipart at all, and a chat request to the speech model.
  HttpAnswer j = post_json(*server_, "/v1/audio/transcriptions", R"({"model":"wav2vec2"})");
  EXPECT_EQ(j.status, 400) << j.body;
  j = post_json(*server_, "/v1/chat/completions",
                R"({"model":"wav2vec2","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(j.status, 400) << j.body;
  EXPECT_NE(j.body.find("transcription"), std::string::npos) << j.body;
  // A JSON route given a multipart body says so (httplib would otherwise have no parts callback).
  const HttpAnswer m = upload("/v1/chat/completions", wav, {{"model", "llama", "", ""}});
  EXPECT_EQ(m.status, 400) << m.body;
  EXPECT_NE(m.body.find("application/json"), std::string::npos) << m.body;
  // The server still serves.
  EXPECT_EQ(upload("/v1/audio/transcriptions", wav, {{"model", "wav2vec2", "", ""}}).status, 200);
}

class ServeWhisper : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServeProcess({"-m", kModels + "whisper"}); }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_TRUE(server_->ready()) << server_->log(); }
  static HttpAnswer upload(const std::string& path, const std::string& audio, httplib::MultipartFormDataItems fields) {
    fields.push_back({"file", audio, "clip.wav", "audio/wav"});
    auto c = server_->client();
    auto r = c.Post(path.c_str(), fields);
    HttpAnswer a;
    if (r) {
      a.status = r->status;
      a.body = r->body;
    }
    return a;
  }
  // What the model gives in this process for the same audio and options.
  static Transcript expected(const TranscriptionOptions& o) {
    const auto r = SpeechRecognizer::load(kModels + "whisper", Device::cpu(), DType::F32);
    return r->transcribe(audio::load_audio_file(kModels + "whisper/audio.wav", 16000).samples, o);
  }
  static ServeProcess* server_;
};
ServeProcess* ServeWhisper::server_ = nullptr;

TEST_F(ServeWhisper, TranscriptionsAndTranslations) {
  const std::string wav = read_file(kModels + "whisper/audio.wav");
  TranscriptionOptions o;
  o.language = "en";
  const Transcript want = expected(o);
  HttpAnswer a =
      upload("/v1/audio/transcriptions", wav,
             {{"model", "whisper", "", ""}, {"language", "en", "", ""}, {"response_format", "verbose_json", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json()["text"], want.text);
  EXPECT_EQ(a.json()["language"], "en");
  EXPECT_EQ(a.json()["task"], "transcribe");
  EXPECT_NEAR(a.json()["duration"].get<double>(), 2.5, 1e-6);
  a = upload("/v1/audio/transcriptions", wav,
             {{"model", "whisper", "", ""}, {"language", "en", "", ""}, {"response_format", "text", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, want.text + "\n");

  o.task = "translate";
  o.language = "de";
  const Transcript translated = expected(o);
  a = upload("/v1/audio/translations", wav, {{"model", "whisper", "", ""}, {"language", "de", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), json({{"text", translated.text}}));
}

TEST_F(ServeWhisper, StreamedDeltasJoinToTheNonStreamedText) {
  const std::string wav = read_file(kModels + "whisper/audio.wav");
  TranscriptionOptions o;
  o.language = "en";
  const Transcript want = expected(o);
  // In process, the same options stream these pieces (token by token: greedy, no fallback).
  std::vector<std::string> pieces;
  o.on_text = [&](std::string_view d) {
    pieces.emplace_back(d);
    return true;
  };
  expected(o);
  const HttpAnswer whole =
      upload("/v1/audio/transcriptions", wav, {{"model", "whisper", "", ""}, {"language", "en", "", ""}});
  ASSERT_EQ(whole.status, 200) << whole.body;
  ASSERT_EQ(whole.json()["text"], want.text);
  for (const char* format : {"json", "text"}) {
    const HttpAnswer a = upload("/v1/audio/transcriptions", wav,
                                {{"model", "whisper", "", ""},
                                 {"language", "en", "", ""},
                                 {"stream", "true", "", ""},
                                 {"response_format", format, "", ""}});
    ASSERT_EQ(a.status, 200) << a.body;
    std::vector<json> events;
    for (size_t at = 0; (at = a.body.find("data: ", at)) != std::string::npos;) {
      const size_t end = a.body.find('\n', at);
      events.push_back(json::parse(a.body.substr(at + 6, end - at - 6)));
      at = end;
    }
    ASSERT_GE(events.size(), 2u) << a.body;
    std::vector<std::string> deltas;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      EXPECT_EQ(events[i]["type"], "transcript.text.delta") << a.body;
      deltas.push_back(events[i]["delta"]);
    }
    std::string joined;
    for (const auto& d : deltas) joined += d;
    EXPECT_EQ(joined, whole.json()["text"].get<std::string>()) << format;
    EXPECT_EQ(deltas, pieces) << "the server streams what the model makes final, token by token";
    EXPECT_EQ(events.back()["type"], "transcript.text.done");
    EXPECT_EQ(events.back()["text"], want.text);
    EXPECT_EQ(events.back()["usage"]["type"], "duration");
    EXPECT_NEAR(events.back()["usage"]["seconds"].get<double>(), 2.5, 1e-6);
  }
  // Formats with timings do not stream (400 naming the field), as OpenAI's API.
  const HttpAnswer srt =
      upload("/v1/audio/transcriptions", wav,
             {{"model", "whisper", "", ""}, {"stream", "true", "", ""}, {"response_format", "verbose_json", "", ""}});
  EXPECT_EQ(srt.status, 400) << srt.body;
  EXPECT_NE(srt.body.find("stream"), std::string::npos) << srt.body;
  // A bad upload is a 400 before any event.
  EXPECT_EQ(upload("/v1/audio/transcriptions", "not audio", {{"model", "whisper", "", ""}, {"stream", "true", "", ""}})
                .status,
            400);
}

TEST_F(ServeWhisper, TimestampsFromAModelWithoutTimestampTokensAre400) {
  const std::string wav = read_file(kModels + "whisper/audio.wav");
  const HttpAnswer a = upload("/v1/audio/transcriptions", wav,
                              {{"model", "whisper", "", ""},
                               {"response_format", "verbose_json", "", ""},
                               {"timestamp_granularities[]", "segment", "", ""}});
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_NE(a.body.find("timestamp"), std::string::npos) << a.body;
  EXPECT_EQ(upload("/v1/audio/transcriptions", "not audio", {{"model", "whisper", "", ""}}).status, 400);
}

// CLAP over /v1/embeddings: audio items (data URLs, Jina's and Cohere's multimodal convention)
// through the audio tower, texts through the text tower, each equal to `embed`'s for the same input.
TEST(ServeClap, EmbeddingsOfAudioAndTextsInInputOrderAsTheCliGivesThem) {
  ServeProcess server({"-m", kModels + "clap", "-m", kModels + "bert"});
  ASSERT_TRUE(server.ready()) << server.log();
  const std::string wav_path = kModels + "clap/audio.wav";
  const CliResult audio = run_cli({"embed", "--model", kModels + "clap", "--audio", wav_path});
  const CliResult texts = run_cli({"embed", "--model", kModels + "clap", "a dog barking", "rain on a roof"});
  ASSERT_EQ(audio.status, 0) << audio.err;
  ASSERT_EQ(texts.status, 0) << texts.err;
  const json want_audio = json::parse(audio.out)["embeddings"][0], want_texts = json::parse(texts.out)["embeddings"];
  const std::string wav_url = "data:audio/wav;base64," + base64_encode(read_file(wav_path));
  HttpAnswer a = post_json(
      server, "/v1/embeddings",
      json{{"model", "clap"},
           {"input", json::array({"a dog barking", json{{"audio", wav_url}}, json{{"text", "rain on a roof"}}})}}
          .dump());
  ASSERT_EQ(a.status, 200) << a.body;
  const json data = a.json()["data"];
  ASSERT_EQ(data.size(), 3u);
  ASSERT_EQ(data[1]["embedding"].size(), want_audio.size());
  for (size_t c = 0; c < want_audio.size(); ++c) {
    EXPECT_NEAR(data[1]["embedding"][c].get<double>(), want_audio[c].get<double>(), 1e-6) << c;
    EXPECT_NEAR(data[0]["embedding"][c].get<double>(), want_texts[0][c].get<double>(), 1e-6) << c;
    EXPECT_NEAR(data[2]["embedding"][c].get<double>(), want_texts[1][c].get<double>(), 1e-6) << c;
  }
  EXPECT_GT(a.json()["usage"]["prompt_tokens"].get<int>(), 0);

  struct Case {
    json body;
    std::string needle;
  };
  const std::string png_url = "data:image/png;base64," + base64_encode(read_file(kModels + "vit/image.png"));
  for (const Case& c : std::vector<Case>{
           {{{"model", "clap"}, {"input", json::array({json{{"image", png_url}}})}}, "texts and audio only"},
           {{{"model", "clap"}, {"input", json::array({json{{"audio", "https://example.com/a.wav"}}})}}, "not fetched"},
           {{{"model", "clap"}, {"input", json::array({json{{"audio", "data:audio/wav;base64,aGVsbG8="}}})}},
            "input[0]"},
           {{{"model", "clap"}, {"input", json::array({json{{"audio", png_url}}})}}, "not audio"},
           {{{"model", "clap"}, {"input", "a dog"}, {"dimensions", 8}}, "dimensions"},
           {{{"model", "bert"}, {"input", json::array({json{{"audio", wav_url}}})}}, "audio-text model"},
       }) {
    HttpAnswer r = post_json(server, "/v1/embeddings", c.body.dump());
    EXPECT_EQ(r.status, 400) << c.body.dump().substr(0, 200) << " -> " << r.body;
    EXPECT_NE(r.body.find(c.needle), std::string::npos) << c.body.dump().substr(0, 200) << " -> " << r.body;
  }
  HttpAnswer tei = post_json(server, "/embed", json{{"model", "clap"}, {"inputs", "a dog"}}.dump());
  EXPECT_EQ(tei.status, 400) << tei.body;
  EXPECT_NE(tei.body.find("/v1/embeddings"), std::string::npos) << tei.body;
}

}  // namespace
}  // namespace ia::test
