// Speech to text through remote providers, end to end against the OpenAI protocol fake (which
// checks the multipart upload it receives): `transcribe --provider` (text, --json, segments), a
// 429 retried after its Retry-After, a 400 as exit 2 with the provider's message, a provider
// without the route; `serve --providers` forwarding an upload for a routed name and answering in
// every response_format; streamed transcriptions (stream=true) relayed event by event, failed over
// only before the first delta and never replayed after it, and `transcribe --stream`; and spend
// kept across processes (a budget reached by one run refuses the
// next, `providers status` shows it, a corrupt spend file is one clear error line).
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "fakes/provider_fakes.h"
#include "integration/cli_runner.h"
#include "integration/serve_client.h"

namespace ia::test {
namespace {

const std::string kAudio = std::string(IA_FIXTURES_DIR) + "/models/wav2vec2/audio.wav";

std::string write_json(const TempDir& dir, const std::string& name, const nlohmann::json& j) {
  const std::string path = dir.path() + "/" + name;
  std::ofstream(path) << j.dump(2);
  return path;
}

std::string header(const HttpAnswer& a, const std::string& name) {
  auto it = a.headers.find(name);
  return it == a.headers.end() ? std::string() : it->second;
}

class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, std::string>> vars) : vars_(std::move(vars)) {
    for (const auto& [k, v] : vars_) setenv(k.c_str(), v.c_str(), 1);
  }
  ~ScopedEnv() {
    for (const auto& [k, v] : vars_) unsetenv(k.c_str());
  }

 private:
  std::vector<std::pair<std::string, std::string>> vars_;
};

HttpAnswer upload(const ServeProcess& s, const std::string& path, const std::string& audio,
                  httplib::MultipartFormDataItems fields, const httplib::Headers& headers = {}) {
  fields.push_back({"file", audio, "clip.wav", "audio/wav"});
  auto c = s.client();
  auto r = c.Post(path.c_str(), headers, fields);
  HttpAnswer a;
  if (r) {
    a.status = r->status;
    a.body = r->body;
    a.headers = r->headers;
  }
  return a;
}

// The JSON of each "data:" event of a server-sent-events body.
std::vector<nlohmann::json> sse_events(const std::string& body) {
  std::vector<nlohmann::json> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n", at);
    out.push_back(nlohmann::json::parse(body.substr(at + 6, end - at - 6), nullptr, false));
    at = end;
  }
  return out;
}

TEST(CliProviders, TranscribeThroughAProviderTextAndJson) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-env"});
  ScopedEnv env({{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "sk-env"}});
  CliResult r = run_cli({"transcribe", "--provider", "openai", "--model", "whisper-1", kAudio, "--quiet"});
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world\n");
  const RecordedRequest req = fake.requests().back();
  EXPECT_EQ(req.path, "/v1/audio/transcriptions");
  EXPECT_EQ(req.header("Authorization"), "Bearer sk-env");
  ASSERT_NE(req.part("file"), nullptr);
  EXPECT_EQ(req.part("file")->content, read_file(kAudio));  // the file as it is
  EXPECT_EQ(req.part("file")->filename, "audio.wav");
  EXPECT_EQ(req.part("file")->content_type, "audio/wav");
  EXPECT_EQ(req.part("model")->content, "whisper-1");
  EXPECT_EQ(req.part("response_format")->content, "json");

  CliResult j = run_cli({"transcribe", "--provider", "openai", "--model", "gpt-4o-transcribe", kAudio, "--json",
                         "--language", "en", "--prompt", "A greeting.", "--temperature", "0.5", "--quiet"});
  ASSERT_EQ(j.status, 0) << j.err;
  const auto out = nlohmann::json::parse(j.out);
  EXPECT_EQ(out["text"], "Hello world");
  EXPECT_EQ(out["deployment"], "openai/gpt-4o-transcribe");
  EXPECT_EQ(out["usage"]["input_tokens"], 14);
  EXPECT_TRUE(out["language"].is_null());  // json carries none
  EXPECT_EQ(fake.requests().back().part("language")->content, "en");
  EXPECT_EQ(fake.requests().back().part("prompt")->content, "A greeting.");
  EXPECT_EQ(fake.requests().back().part("temperature")->content, "0.5");

  // --timestamps asks for verbose_json with segment timestamps.
  CliResult t = run_cli(
      {"transcribe", "--provider", "openai", "--model", "whisper-1", kAudio, "--json", "--timestamps", "--quiet"});
  ASSERT_EQ(t.status, 0) << t.err;
  const auto ts = nlohmann::json::parse(t.out);
  EXPECT_EQ(ts["language"], "english");
  EXPECT_EQ(ts["duration"], 2.5);
  ASSERT_EQ(ts["segments"].size(), 2u);
  EXPECT_EQ(ts["segments"][1], nlohmann::json({{"start", 0.96}, {"end", 2.5}, {"text", " world"}}));
  EXPECT_EQ(ts["usage"]["seconds"], 3);
  EXPECT_EQ(fake.requests().back().part("timestamp_granularities[]")->content, "segment");

  // --task translate goes to /audio/translations.
  CliResult tr =
      run_cli({"transcribe", "--provider", "openai", "--model", "whisper-1", kAudio, "--task", "translate", "--quiet"});
  ASSERT_EQ(tr.status, 0) << tr.err;
  EXPECT_EQ(fake.requests().back().path, "/v1/audio/translations");

  // Local-only flags are refused rather than dropped.
  expect_user_error(run_cli({"transcribe", "--provider", "openai", "--model", "whisper-1", kAudio, "--num-beams", "2"}),
                    "--num-beams is for local models");
}

TEST(CliProviders, TranscribeRetriesA429AfterItsRetryAfter) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-env"});
  ScopedEnv env({{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "sk-env"}});
  FakeStep limited{FakeStep::HttpError, 429};
  limited.headers = {{"Retry-After", "1"}};
  fake.script({limited});
  const auto t0 = std::chrono::steady_clock::now();
  CliResult r = run_cli({"transcribe", "--provider", "openai", "--model", "whisper-1", kAudio, "--quiet"});
  const auto dt = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "Hello world\n");
  EXPECT_EQ(fake.call_count(), 2u);
  EXPECT_GE(dt, std::chrono::milliseconds(1000));                          // it waited as told
  EXPECT_EQ(fake.requests()[1].part("file")->content, read_file(kAudio));  // the whole upload again
}

TEST(CliProviders, TranscribeA400IsExit2WithTheProvidersMessage) {
  FakeProvider fake(FakeProtocol::OpenAI, {"sk-env"});
  ScopedEnv env({{"OPENAI_BASE_URL", fake.base_url()}, {"OPENAI_API_KEY", "sk-env"}});
  fake.script({FakeStep{FakeStep::HttpError, 400}});
  expect_user_error(run_cli({"transcribe", "--provider", "openai", "--model", "whisper-1", kAudio}), "fake error 400");
  EXPECT_EQ(fake.call_count(), 1u);  // never retried
  // An audio file that is not there is refused before anything is sent.
  expect_user_error(run_cli({"transcribe", "--provider", "openai", "--model", "whisper-1", "/no/such/file.wav"}),
                    "/no/such/file.wav");
}

TEST(CliProviders, TranscribeWithAProviderThatHasNoTranscription) {
  FakeProvider anthropic(FakeProtocol::Anthropic, {"sk-ant"});
  ScopedEnv env({{"ANTHROPIC_BASE_URL", anthropic.base_url()}, {"ANTHROPIC_API_KEY", "sk-ant"}});
  expect_user_error(run_cli({"transcribe", "--provider", "anthropic", "--model", "claude-x", kAudio}),
                    "provider `anthropic` (anthropic) has no transcription API");
  TempDir dir;
  const std::string file =
      write_json(dir, "providers.json",
                 {{"providers", {{"claude", {{"type", "anthropic"}, {"base_url", anthropic.base_url()}}}}},
                  {"models", {{"speech", {{{"provider", "claude"}, {"model", "claude-x"}}}}}}});
  expect_user_error(run_cli({"transcribe", "--providers", file, "--model", "speech", kAudio}),
                    "no deployment of `speech` has a transcription API: claude/claude-x (anthropic)");
  EXPECT_EQ(anthropic.request_count(), 0u);
}

TEST(ServeProviders, TranscriptionForwardsTheUploadAndAnswersInEveryFormat) {
  FakeProvider down(FakeProtocol::OpenAI);
  FakeProvider oai(FakeProtocol::OpenAI, {"sk-oai"});
  FakeProvider chat_only(FakeProtocol::Anthropic);
  down.fail_always(FakeStep{FakeStep::HttpError, 503});
  TempDir dir;
  const std::string file =
      write_json(dir, "providers.json",
                 {{"providers",
                   {{"down", {{"type", "vllm"}, {"base_url", down.base_url()}, {"max_retries", 0}}},
                    {"oai", {{"type", "openai"}, {"base_url", oai.base_url()}, {"keys", {{{"env", "TEST_OAI_KEY"}}}}}},
                    {"claude", {{"type", "anthropic"}, {"base_url", chat_only.base_url()}}}}},
                  {"models",
                   {{"whisper",
                     {{{"provider", "claude"}, {"model", "claude-x"}},  // a chat deployment of the name: skipped here
                      {{"provider", "down"}, {"model", "openai/whisper-large-v3"}},
                      {{"provider", "oai"}, {"model", "whisper-1"}}}},
                    {"chat-only", {{{"provider", "claude"}, {"model", "claude-x"}}}}}}});
  ServeProcess s({"--providers", file}, {{"TEST_OAI_KEY", "sk-oai"}});
  ASSERT_TRUE(s.ready()) << s.log();
  const std::string wav = read_file(kAudio);

  HttpAnswer a = upload(s, "/v1/audio/transcriptions", wav,
                        {{"model", "whisper", "", ""}, {"language", "en", "", ""}, {"prompt", "Greetings.", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.json(), nlohmann::json({{"text", "Hello world"}, {"deployment", "oai/whisper-1"}}));
  EXPECT_EQ(header(a, "X-IA-Deployment"), "oai/whisper-1");
  EXPECT_EQ(down.call_count(), 1u);  // tried first, failed over
  EXPECT_EQ(chat_only.request_count(), 0u);
  const RecordedRequest req = oai.requests().back();
  EXPECT_EQ(req.header("Authorization"), "Bearer sk-oai");
  EXPECT_EQ(req.part("file")->content, wav);
  EXPECT_EQ(req.part("file")->filename, "clip.wav");
  EXPECT_EQ(req.part("file")->content_type, "audio/wav");
  EXPECT_EQ(req.part("model")->content, "whisper-1");
  EXPECT_EQ(req.part("language")->content, "en");
  EXPECT_EQ(req.part("prompt")->content, "Greetings.");
  EXPECT_EQ(down.requests().back().part("file")->content, wav);  // the failed try had the upload too

  // verbose_json: the provider's segments, language and duration as they came.
  HttpAnswer v = upload(s, "/v1/audio/transcriptions", wav,
                        {{"model", "whisper", "", ""},
                         {"response_format", "verbose_json", "", ""},
                         {"timestamp_granularities[]", "segment", "", ""}});
  ASSERT_EQ(v.status, 200) << v.body;
  EXPECT_EQ(v.json()["task"], "transcribe");
  EXPECT_EQ(v.json()["language"], "english");
  EXPECT_EQ(v.json()["duration"], 2.5);
  EXPECT_EQ(v.json()["deployment"], "oai/whisper-1");
  ASSERT_EQ(v.json()["segments"].size(), 2u);
  EXPECT_EQ(v.json()["segments"][0], nlohmann::json({{"id", 0}, {"start", 0.0}, {"end", 0.96}, {"text", " Hello"}}));
  EXPECT_EQ(oai.requests().back().part("response_format")->content, "verbose_json");
  EXPECT_EQ(oai.requests().back().part("timestamp_granularities[]")->content, "segment");

  // Subtitles are written from the segments exactly as the provider writes its own.
  for (const char* format : {"srt", "vtt"}) {
    HttpAnswer sub =
        upload(s, "/v1/audio/transcriptions", wav, {{"model", "whisper", "", ""}, {"response_format", format, "", ""}});
    ASSERT_EQ(sub.status, 200) << sub.body;
    EXPECT_EQ(header(sub, "X-IA-Deployment"), "oai/whisper-1");
    httplib::Client direct("127.0.0.1", oai.port());
    auto own = direct.Post("/v1/audio/transcriptions", {{"Authorization", "Bearer sk-oai"}},
                           httplib::MultipartFormDataItems{{"model", "whisper-1", "", ""},
                                                           {"response_format", format, "", ""},
                                                           {"file", wav, "clip.wav", "audio/wav"}});
    ASSERT_TRUE(own);
    EXPECT_EQ(sub.body, own->body) << format;
  }
  HttpAnswer text =
      upload(s, "/v1/audio/transcriptions", wav, {{"model", "whisper", "", ""}, {"response_format", "text", "", ""}});
  ASSERT_EQ(text.status, 200) << text.body;
  EXPECT_EQ(text.body, "Hello world\n");

  HttpAnswer tr = upload(s, "/v1/audio/translations", wav, {{"model", "whisper", "", ""}});
  ASSERT_EQ(tr.status, 200) << tr.body;
  EXPECT_EQ(oai.requests().back().path, "/v1/audio/translations");
  EXPECT_EQ(tr.json()["deployment"], "oai/whisper-1");

  // The provider's refusal is the caller's answer, unretried and not failed over.
  oai.script({FakeStep{FakeStep::HttpError, 400}});
  const size_t before = oai.call_count();
  HttpAnswer bad = upload(s, "/v1/audio/transcriptions", wav, {{"model", "whisper", "", ""}});
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.body.find("fake error 400"), std::string::npos) << bad.body;
  EXPECT_EQ(oai.call_count(), before + 1);

  // A routed name none of whose deployments transcribes is a clear 400.
  HttpAnswer none = upload(s, "/v1/audio/transcriptions", wav, {{"model", "chat-only", "", ""}});
  EXPECT_EQ(none.status, 400) << none.body;
  EXPECT_NE(none.body.find("no deployment of `chat-only` has a transcription API"), std::string::npos) << none.body;
  EXPECT_EQ(chat_only.request_count(), 0u);
  EXPECT_GE(metric_value(s, "ia_provider_requests_total{provider=\"oai\",model=\"whisper-1\"}"), 6);
}

TEST(ServeProviders, StreamedTranscriptionIsRelayedAndNeverReplayed) {
  FakeProvider down(FakeProtocol::OpenAI);
  FakeProvider oai(FakeProtocol::OpenAI);
  FakeProvider backup(FakeProtocol::OpenAI);
  down.fail_always(FakeStep{FakeStep::HttpError, 503});
  TempDir dir;
  const std::string file =
      write_json(dir, "providers.json",
                 {{"providers",
                   {{"down", {{"type", "vllm"}, {"base_url", down.base_url()}, {"max_retries", 0}}},
                    {"oai", {{"type", "openai"}, {"base_url", oai.base_url()}, {"max_retries", 0}}},
                    {"backup", {{"type", "openai"}, {"base_url", backup.base_url()}}}}},
                  {"models",
                   {{"asr",
                     {{{"provider", "down"}, {"model", "openai/whisper-large-v3"}},
                      {{"provider", "oai"}, {"model", "gpt-4o-transcribe"}},
                      {{"provider", "backup"}, {"model", "gpt-4o-mini-transcribe"}}}}}}});
  ServeProcess s({"--providers", file});
  ASSERT_TRUE(s.ready()) << s.log();
  const std::string wav = read_file(kAudio);

  // The failing first deployment is passed over (nothing was sent yet); the second's events are
  // relayed as OpenAI's: its deltas, then done with the whole text and the usage.
  HttpAnswer a = upload(s, "/v1/audio/transcriptions", wav, {{"model", "asr", "", ""}, {"stream", "true", "", ""}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(header(a, "Content-Type"), "text/event-stream");
  EXPECT_EQ(header(a, "X-IA-Deployment"), "oai/gpt-4o-transcribe");
  const auto ev = sse_events(a.body);
  ASSERT_EQ(ev.size(), FakeProvider::kDeltas.size() + 1) << a.body;
  std::string joined;
  for (size_t i = 0; i < FakeProvider::kDeltas.size(); ++i) {
    EXPECT_EQ(ev[i], nlohmann::json({{"type", "transcript.text.delta"}, {"delta", FakeProvider::kDeltas[i]}}));
    joined += ev[i]["delta"].get<std::string>();
  }
  EXPECT_EQ(ev.back()["type"], "transcript.text.done");
  EXPECT_EQ(ev.back()["text"], joined);
  EXPECT_EQ(ev.back()["usage"],
            nlohmann::json({{"type", "tokens"}, {"input_tokens", 14}, {"output_tokens", 3}, {"total_tokens", 17}}));
  EXPECT_EQ(down.call_count(), 1u);
  EXPECT_EQ(oai.requests().back().part("stream")->content, "true");
  EXPECT_EQ(oai.requests().back().part("file")->content, wav);
  EXPECT_EQ(backup.call_count(), 0u);

  // Cut after its first delta: the caller has it, so the failure ends the stream with an error
  // event and the next deployment is never asked (a stream is not replayed).
  FakeStep cut{FakeStep::CutStream};
  cut.after_deltas = 1;
  oai.script({cut});
  HttpAnswer c = upload(s, "/v1/audio/transcriptions", wav, {{"model", "asr", "", ""}, {"stream", "true", "", ""}});
  ASSERT_EQ(c.status, 200) << c.body;
  const auto cev = sse_events(c.body);
  ASSERT_EQ(cev.size(), 2u) << c.body;
  EXPECT_EQ(cev[0]["delta"], "Hel");
  ASSERT_TRUE(cev[1].contains("error")) << c.body;
  EXPECT_FALSE(cev[1]["error"]["message"].get<std::string>().empty()) << c.body;
  EXPECT_EQ(backup.call_count(), 0u);

  // Cut before any delta: nothing reached the caller, so the chain moves on to the backup.
  FakeStep empty{FakeStep::CutStream};
  empty.after_deltas = 0;
  oai.script({empty});
  HttpAnswer b = upload(s, "/v1/audio/transcriptions", wav, {{"model", "asr", "", ""}, {"stream", "true", "", ""}});
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_EQ(header(b, "X-IA-Deployment"), "backup/gpt-4o-mini-transcribe");
  EXPECT_EQ(sse_events(b.body).back()["text"], "Hello world");
  EXPECT_EQ(backup.call_count(), 1u);

  // Formats with timings cannot stream (as OpenAI's API), and stream must be a boolean.
  for (const char* format : {"srt", "vtt", "verbose_json"}) {
    HttpAnswer r = upload(s, "/v1/audio/transcriptions", wav,
                          {{"model", "asr", "", ""}, {"stream", "true", "", ""}, {"response_format", format, "", ""}});
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.json()["error"]["param"], "stream") << r.body;
  }
  HttpAnswer nb = upload(s, "/v1/audio/transcriptions", wav, {{"model", "asr", "", ""}, {"stream", "yes", "", ""}});
  EXPECT_EQ(nb.status, 400) << nb.body;

  // `transcribe --stream` prints the deltas as they come (here through the router's chain).
  CliResult cli = run_cli({"transcribe", "--providers", file, "--model", "asr", kAudio, "--stream", "--quiet"});
  ASSERT_EQ(cli.status, 0) << cli.err;
  EXPECT_EQ(cli.out, "Hello world\n");
  EXPECT_EQ(oai.requests().back().part("stream")->content, "true");
  expect_user_error(run_cli({"transcribe", "--providers", file, "--model", "asr", kAudio, "--stream", "--json"}),
                    "--json");
}

TEST(ProviderSpendCli, ABudgetReachedByOneRunRefusesTheNextAndStatusShowsIt) {
  FakeProvider oai(FakeProtocol::OpenAI);
  TempDir dir;
  const std::string spend = dir.path() + "/spend/provider-spend.json";
  // 14 tokens in and 3 out at 30000 / 40000 USD per million: 0.54 USD a transcription.
  const std::string file =
      write_json(dir, "providers.json",
                 {{"providers",
                   {{"oai",
                     {{"type", "openai"},
                      {"base_url", oai.base_url()},
                      {"prices", {{"*", {{"input_per_million", 30000}, {"output_per_million", 40000}}}}},
                      {"budget_usd", 1.0},
                      {"budget_period", "month"}}}}},
                  {"models", {{"whisper", {{{"provider", "oai"}, {"model", "gpt-4o-transcribe"}}}}}},
                  {"spend_file", "spend/provider-spend.json"}});  // relative to the providers file
  for (int i = 0; i < 2; ++i) {
    CliResult r = run_cli({"transcribe", "--providers", file, "--model", "whisper", kAudio, "--quiet"});
    ASSERT_EQ(r.status, 0) << r.err;
  }
  const auto stored = nlohmann::json::parse(read_file(spend));
  EXPECT_NEAR(stored["spend_usd"]["oai"]["total"]["gpt-4o-transcribe"].get<double>(), 1.08, 1e-9);
  CliResult refused = run_cli({"transcribe", "--providers", file, "--model", "whisper", kAudio});
  EXPECT_EQ(refused.status, 2);
  EXPECT_NE(refused.err.find("its budget of 1.00 USD for "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("recorded in " + spend), std::string::npos) << refused.err;
  EXPECT_EQ(oai.call_count(), 2u);

  // A gateway started on the same file is refused too, and says where it stands.
  ServeProcess s({"--providers", file});
  ASSERT_TRUE(s.ready()) << s.log();
  HttpAnswer a = upload(s, "/v1/audio/transcriptions", read_file(kAudio), {{"model", "whisper", "", ""}});
  EXPECT_EQ(a.status, 503) << a.body;
  EXPECT_NE(a.body.find("budget"), std::string::npos) << a.body;
  EXPECT_EQ(oai.call_count(), 2u);
  CliResult status = run_cli({"providers", "status", "--url", s.url()});
  ASSERT_EQ(status.status, 0) << status.err;
  const auto st = nlohmann::json::parse(status.out)["providers"][0]["spend"];
  EXPECT_NEAR(st["spent_usd"].get<double>(), 1.08, 1e-9);
  EXPECT_EQ(st["budget_usd"], 1.0);
  EXPECT_EQ(st["period"], "month");
  EXPECT_EQ(st["period_key"].get<std::string>().size(), 7u);  // YYYY-MM
  EXPECT_EQ(st["spend_file"], spend);
  EXPECT_NEAR(metric_value(s, "ia_provider_budget_usd{provider=\"oai\"}"), 1.0, 1e-9);

  // A corrupt spend file: one clear line, exit 2, the file untouched.
  std::ofstream(spend) << "{\"version\": 1, \"spend_usd\": {\"oai\": {\"total\": {\"gpt-4o-transcribe\": oops";
  const std::string before = read_file(spend);
  expect_user_error(run_cli({"transcribe", "--providers", file, "--model", "whisper", kAudio}),
                    "spend file " + spend + ": not valid JSON");
  expect_user_error(run_cli({"providers", "list", "--providers", file}), "spend file " + spend);
  EXPECT_EQ(read_file(spend), before);
}

}  // namespace
}  // namespace ia::test
