// Chat and text completions: a request becomes token-id prompts and a
// GenerationRequest checked against the model (context, vocabulary, sampling
// ranges) before it is queued, so a queued request fails only for reasons of
// the run itself. The answer is read from the job's stream, whole or as
// server-sent events.
#include <chrono>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/error.h"
#include "preprocess/image/image_decoder.h"
#include "runtime/vision_prompt.h"
#include "server/api_error.h"
#include "server/completion_json.h"
#include "server/generation_service.h"
#include "server/image_inputs.h"
#include "server/route_handler.h"
#include "server/routes.h"
#include "server/sse_writer.h"
#include "server/tool_calls.h"

namespace ia::server {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// One request made ready to queue: its distinct prompts, the flat sequence list (prompt x n)
// and what the answer puts before each choice's text (echo).
struct PreparedGeneration {
  std::vector<std::vector<int32_t>> prompts;
  GenerationFields* fields = nullptr;
  std::vector<std::string> prefix;  // per sequence
  int64_t prompt_tokens = 0;
  double tokenize_seconds = 0;
  Clock::time_point arrived;
  // Chat with tools: choices' text is parsed into tool calls (and held back when streaming).
  std::optional<std::vector<std::string>> tool_names;
  std::shared_ptr<const PromptImages> images;  // a vision-language chat's images (its one prompt's)
};

// Lengths against the context (400 context_length_exceeded, as vLLM words it), then the
// request's max_new_tokens fixed so that every sequence fits.
void fit_context(ServedModel& m, PreparedGeneration& p, const std::string& param) {
  GenerationRequest& req = p.fields->request;
  const int64_t ctx = m.max_model_len;
  int64_t longest = 0, total = 0;
  for (const auto& prompt : p.prompts) {
    const auto len = static_cast<int64_t>(prompt.size());
    if (len == 0) throw invalid_field(param, "the prompt has no tokens");
    longest = std::max(longest, len);
    total += len;
    if (len >= ctx)
      throw context_length_exceeded(param, fmt::format("This model's maximum context length is {} tokens. However, "
                                                       "your prompt has {} tokens; no room is left for a completion.",
                                                       ctx, len));
    if (req.max_new_tokens && len + *req.max_new_tokens > ctx)
      throw context_length_exceeded(
          "max_tokens",
          fmt::format("This model's maximum context length is {} tokens. However, you requested {} "
                      "tokens ({} in the prompt, {} for the completion). Reduce the prompt or max_tokens.",
                      ctx, len + *req.max_new_tokens, len, *req.max_new_tokens));
  }
  // No bound on a request's prompt tokens beyond the context: the engine prefills in chunks of
  // --max-batch-tokens (and refuses a sequence its KV pool can never hold).
  p.prompt_tokens = total;
  if (!req.max_new_tokens)
    req.max_new_tokens = std::min(m.generator->requested_new_tokens(req, longest), ctx - longest);
}

void check_sampling(ServedModel& m, GenerationRequest& req) {
  const auto vocab = static_cast<int64_t>(m.generator->model().config().vocab_size);
  for (const auto& [id, bias] : req.logit_bias)
    if (id >= vocab)
      throw invalid_field(fmt::format("logit_bias.{}", id),
                          fmt::format("token id {} is outside the vocabulary of {}", id, vocab));
  try {
    m.generator->resolve(req);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::InvalidArgument) throw;
    throw invalid_field("", e.what());
  }
}

void record_finished(ServerState& s, const ServedModel& m, const GenerationStream& stream, int64_t prompt_tokens,
                     int64_t completion_tokens, const PreparedGeneration& p) {
  const MetricsRegistry::Labels labels{{"model", m.name}};
  s.metrics.observe(metric::kTokenizeSeconds, labels, p.tokenize_seconds);
  if (stream.started_at) {
    s.metrics.observe(metric::kQueueSeconds, labels, seconds(*stream.started_at - stream.queued_at));
    if (stream.finished_at)
      s.metrics.observe(metric::kInferenceSeconds, labels, seconds(*stream.finished_at - *stream.started_at));
    const GenerationStats& st = stream.stats();
    s.metrics.observe(metric::kTimeToFirstToken, labels,
                      seconds(*stream.started_at - p.arrived) + st.prefill_ms / 1000);
    if (st.decode_tokens > 0)
      s.metrics.observe(metric::kTimePerOutputToken, labels,
                        st.decode_ms / 1000 / static_cast<double>(st.decode_tokens));
  }
  s.metrics.add(metric::kPromptTokens, labels, static_cast<double>(prompt_tokens));
  s.metrics.add(metric::kGenerationTokens, labels, static_cast<double>(completion_tokens));
}

int64_t completion_tokens(const std::vector<GenerationResult>& results) {
  int64_t n = 0;
  for (const auto& r : results) n += static_cast<int64_t>(r.ids.size());
  return n;
}

// The whole answer's JSON, with the request's logprobs and tool calls, once the results are in.
std::string whole_answer(ServerState& s, ServedModel& m, const GenerationStream& stream, const CompletionHeader& h,
                         const PreparedGeneration& p, const std::vector<GenerationResult>& results) {
  record_finished(s, m, stream, p.prompt_tokens, completion_tokens(results), p);
  return completion_response(h, results, p.prefix, p.fields->request.logprobs >= 0, m.tokenizer(), p.prompt_tokens,
                             p.tool_names ? &*p.tool_names : nullptr);
}

// What httplib's chunked provider writes an answer with, on the connection's thread, while the
// model runs: the request's stream and what the answer repeats. A write that fails (the client
// left) cancels the generation, freeing its KV blocks; so does a writer dropped unfinished.
class AnswerWriter {
 public:
  AnswerWriter(ServerState& s, ServedLease lease, std::shared_ptr<GenerationStream> stream, CompletionHeader header,
               PreparedGeneration p)
      : s_(s),
        in_flight_(s),
        lease_(std::move(lease)),
        m_(*lease_),
        stream_(std::move(stream)),
        h_(std::move(header)),
        p_(std::move(p)) {}
  ~AnswerWriter() {
    if (!finished_) cancel();
  }
  AnswerWriter(const AnswerWriter&) = delete;
  AnswerWriter& operator=(const AnswerWriter&) = delete;

 protected:
  bool cancel() {
    if (!cancelled_) {
      cancelled_ = true;
      stream_->cancel();
      s_.metrics.add(metric::kCancelled, {{"model", m_.name}});
    }
    return false;
  }

  ServerState& s_;
  InFlight in_flight_;  // the request lasts as long as its stream
  ServedLease lease_;   // and so does its hold on the model: the pool does not unload it meanwhile
  ServedModel& m_;
  std::shared_ptr<GenerationStream> stream_;
  CompletionHeader h_;
  PreparedGeneration p_;
  bool finished_ = false, cancelled_ = false;
};

// A streamed answer as server-sent events. Deltas are forwarded as they come; a quiet stream
// gets a comment every second so a client that left is noticed (its write fails).
class CompletionStreamWriter : public AnswerWriter {
 public:
  CompletionStreamWriter(ServerState& s, ServedLease lease, std::shared_ptr<GenerationStream> stream,
                         CompletionHeader header, PreparedGeneration p, size_t sequences)
      : AnswerWriter(s, std::move(lease), std::move(stream), std::move(header), std::move(p)), sequences_(sequences) {}

  // One call of httplib's provider: false ends the response (the client is gone).
  bool step(httplib::DataSink& sink) {
    SseWriter sse(sink);
    const bool usage = p_.fields->include_usage;
    if (!opened_) {
      opened_ = true;
      for (size_t i = 0; i < sequences_; ++i) {
        if (h_.api == CompletionApi::Chat && !sse.event(chunk_role(h_, i, usage))) return cancel();
        if (!p_.prefix[i].empty() && !sse.event(chunk_text(h_, i, p_.prefix[i], usage))) return cancel();
      }
      last_write_ = Clock::now();
    }
    std::vector<std::pair<size_t, std::string>> deltas;
    const bool done = stream_->wait(deltas, std::chrono::milliseconds(200));
    for (const auto& [i, text] : deltas) {
      if (p_.tool_names) break;  // the text is parsed for calls once whole: chunk_finish sends it
      if (!sse.event(chunk_text(h_, i, text, usage))) return cancel();
      last_write_ = Clock::now();
    }
    if (!done) {
      if (Clock::now() - last_write_ > std::chrono::seconds(1)) {
        if (!sse.keep_alive()) return cancel();
        last_write_ = Clock::now();
      }
      return true;
    }
    finished_ = true;
    try {
      const std::vector<GenerationResult>& results = stream_->results();
      const bool logprobs = p_.fields->request.logprobs >= 0;
      for (size_t i = 0; i < results.size(); ++i)
        if (!sse.event(chunk_finish(h_, i, results[i], logprobs, m_.tokenizer(), usage, p_.prefix[i].size(),
                                    p_.tool_names ? &*p_.tool_names : nullptr)))
          return false;
      const int64_t out_tokens = completion_tokens(results);
      record_finished(s_, m_, *stream_, p_.prompt_tokens, out_tokens, p_);
      if (usage && !sse.event(chunk_usage(h_, p_.prompt_tokens, out_tokens))) return false;
    } catch (...) {
      // The status went out with the first chunk: the error is an event, as vLLM sends it.
      if (!sse.event(current_error_response().body)) return false;
    }
    if (!sse.done()) return false;
    sse.close();
    return true;
  }

 private:
  size_t sequences_;
  bool opened_ = false;
  Clock::time_point last_write_ = Clock::now();
};

// A whole (non-streamed) answer that took longer than a moment: the status and headers go out,
// then a space every second while the model works (whitespace before a JSON text is allowed, and
// a client that left makes the write fail, which cancels its generation and frees its KV blocks,
// as a stream's does), then the JSON. An error past that point comes as the JSON error body.
class WholeAnswerWriter : public AnswerWriter {
 public:
  using AnswerWriter::AnswerWriter;

  bool step(httplib::DataSink& sink) {
    std::vector<std::pair<size_t, std::string>> ignored;  // the deltas are in the results too
    if (!stream_->wait(ignored, std::chrono::milliseconds(1000))) {
      if (!sink.write(" ", 1)) return cancel();
      return true;
    }
    finished_ = true;
    std::string body;
    try {
      body = whole_answer(s_, m_, *stream_, h_, p_, stream_->results());
    } catch (...) {
      body = current_error_response().body;
    }
    if (!sink.write(body.data(), body.size())) return false;
    sink.done();
    return true;
  }
};

// Queues the request and answers it, whole or streamed.
void answer(ServerState& s, const ServedLease& lease, CompletionApi api, PreparedGeneration p,
            std::shared_ptr<void> owner, httplib::Response& res) {
  ServedModel& m = *lease;
  GenerationFields& f = *p.fields;
  GenerationJob job;
  for (const auto& prompt : p.prompts)
    for (int j = 0; j < f.n; ++j) job.prompts.push_back(prompt);
  std::vector<std::string> prefix;
  for (const auto& text : p.prefix)
    for (int j = 0; j < f.n; ++j) prefix.push_back(text);
  p.prefix = std::move(prefix);
  const size_t sequences = job.prompts.size();
  job.request = f.request;
  job.images = p.images;
  if (s.options.generation_timeout.count() > 0) job.request.deadline = p.arrived + s.options.generation_timeout;
  job.stream = std::make_shared<GenerationStream>();
  std::shared_ptr<GenerationStream> stream = job.stream;
  try {
    m.generation->submit(std::move(job));
  } catch (const QueueFull&) {
    throw queue_full(m.name);
  }
  CompletionHeader header = CompletionHeader::make(api, m.name);
  if (!f.stream) {
    // Most answers are ready within a moment: sent whole, with their real status. A longer one
    // goes out as WholeAnswerWriter writes it, so that a client that leaves cancels it.
    std::vector<std::pair<size_t, std::string>> ignored;
    const auto quick = Clock::now() + std::chrono::milliseconds(1000);
    bool done = false;
    while (!(done = stream->wait(ignored, std::chrono::milliseconds(100))) && Clock::now() < quick) ignored.clear();
    if (!done) {
      res.status = 200;
      auto writer = std::make_shared<WholeAnswerWriter>(s, lease, stream, std::move(header), std::move(p));
      res.set_chunked_content_provider("application/json",
                                       [writer, owner](size_t, httplib::DataSink& sink) { return writer->step(sink); });
      return;
    }
    send_json(res, whole_answer(s, m, *stream, header, p, stream->results()));
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // proxies must not hold events back
  auto writer = std::make_shared<CompletionStreamWriter>(s, lease, stream, std::move(header), std::move(p), sequences);
  res.set_chunked_content_provider("text/event-stream",
                                   [writer, owner](size_t, httplib::DataSink& sink) { return writer->step(sink); });
}

std::vector<int32_t> ids_of(const tok::Encoding& e) {
  return {e.ids.begin(), e.ids.end()};
}

// A chat with image parts: each data: URL decoded (within bounds, every refusal a 400 naming its
// part), the rendered prompt's image placeholders expanded and tokenized as LlavaProcessor does;
// the features are left to the engine's thread, which embeds them once before the prefill.
std::vector<int32_t> vision_prompt(const ServerState& s, ServedModel& m, const ChatCompletionRequest& r,
                                   const std::string& prompt, PreparedGeneration& p) {
  const VisionPrompter* vp = m.generator->vision();
  IA_CHECK(vp != nullptr, "chat: images for a model without a vision prompter");
  image::ImageLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  limits.max_pixels = int64_t{1} << 24;  // 16 Mpx: far above what the processors resize to
  limits.max_file_bytes = static_cast<int64_t>(s.options.max_request_bytes);
  std::vector<image::RgbImage> images;
  for (const ImagePart& part : r.images) {
    const std::string bytes = image_data_url_bytes(part.url, part.param);
    try {
      images.push_back(image::decode_image_bytes(
                           std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                           part.param, limits)
                           .image);
    } catch (const Error& e) {
      throw invalid_field(part.param, fmt::format("the image cannot be decoded: {}", e.what()));
    }
  }
  const int64_t placeholders = vp->placeholders(prompt);
  if (placeholders != static_cast<int64_t>(images.size()))
    throw invalid_field("messages", fmt::format("the chat template rendered {} image placeholders for {} images",
                                                placeholders, images.size()));
  VisionPromptInput in = vp->prepare(prompt, images, /*add_special_tokens=*/false, /*embed=*/false);
  p.images = std::move(in.images);
  return std::move(in.ids);
}

}  // namespace

void local_chat_completions(ServerState& s, const std::string& body, httplib::Response& res) {
  PreparedGeneration p;
  p.arrived = Clock::now();
  auto r = std::make_shared<ChatCompletionRequest>(parse_chat_completion_request(body, s.limits));
  const ServedLease lease = s.model_for(r->model, ModelUse::Generation);
  ServedModel& m = *lease;
  if (!m.chat_template)
    throw invalid_field("model", "model `" + m.name + "` has no chat template; use /v1/completions with a prompt");
  // Before the template sees image items it may not know.
  if (!r->images.empty() && !m.generator->vision())
    throw invalid_field(r->images[0].param,
                        "model `" + m.name + "` does not take images (image parts are for LLaVA-family models)");
  const auto t0 = Clock::now();
  tok::ChatRenderOptions render;
  render.add_generation_prompt = true;
  const bool tools = r->tools.any() && r->tools.choice != "none";
  if (tools) render.tools = r->tools.tools;
  const std::string prompt = m.chat_template->render(r->messages, render);
  if (tools) {
    // A template that does not show the model its tools would have them silently ignored.
    for (const auto& name : r->tools.names)
      if (prompt.find(name) == std::string::npos)
        throw invalid_field("tools", "model `" + m.name + "`'s chat template does not render tools");
    if (auto forced = forced_call_grammar(r->tools, prompt.find("<tool_call>") != std::string::npos)) {
      if (r->request.grammar)
        throw invalid_field("tool_choice", "a forced tool call cannot be combined with `response_format`");
      r->request.grammar = std::move(forced);
    }
    p.tool_names = r->tools.names;
  }
  if (!r->images.empty()) {
    p.prompts.push_back(vision_prompt(s, m, *r, prompt, p));
  } else {
    // The template writes the special tokens (apply_chat_template(tokenize=True)).
    p.prompts.push_back(ids_of(m.tokenizer().encode(prompt, /*add_special_tokens=*/false)));
  }
  p.prefix.assign(1, "");
  p.tokenize_seconds = seconds(Clock::now() - t0);
  p.fields = r.get();
  fit_context(m, p, "messages");
  check_sampling(m, r->request);
  answer(s, lease, CompletionApi::Chat, std::move(p), r, res);
}

void local_completions(ServerState& s, const std::string& body, httplib::Response& res) {
  PreparedGeneration p;
  p.arrived = Clock::now();
  auto r = std::make_shared<CompletionRequest>(parse_completion_request(body, s.limits));
  const ServedLease lease = s.model_for(r->model, ModelUse::Generation);
  ServedModel& m = *lease;
  const auto t0 = Clock::now();
  const auto vocab = static_cast<int64_t>(m.generator->model().config().vocab_size);
  for (size_t i = 0; i < r->prompts.size(); ++i) {
    const PromptInput& in = r->prompts[i];
    if (in.is_ids) {
      for (int32_t id : in.ids)
        if (id >= vocab)
          throw invalid_field(r->prompts.size() == 1 ? "prompt" : fmt::format("prompt[{}]", i),
                              fmt::format("token id {} is outside the vocabulary of {}", id, vocab));
      p.prompts.push_back(in.ids);
    } else {
      // As `generate` tokenizes a prompt: tokenizer.encode(prompt) with its special tokens.
      p.prompts.push_back(ids_of(m.tokenizer().encode(in.text)));
    }
    std::string echo;
    if (r->echo) echo = in.is_ids ? m.tokenizer().decode(in.ids, /*skip_special_tokens=*/false) : in.text;
    p.prefix.push_back(std::move(echo));
  }
  p.tokenize_seconds = seconds(Clock::now() - t0);
  p.fields = r.get();
  fit_context(m, p, "prompt");
  check_sampling(m, r->request);
  answer(s, lease, CompletionApi::Text, std::move(p), r, res);
}

void add_generation_routes(httplib::Server& http, ServerState& state) {
  add_post_route(http, state, "/v1/chat/completions",
                 [&state](const httplib::Request& req, httplib::Response& res, const std::string& body) {
                   if (!route_chat(state, req, body, res)) local_chat_completions(state, body, res);
                 });
  add_post_route(http, state, "/v1/completions",
                 [&state](const httplib::Request& req, httplib::Response& res, const std::string& body) {
                   if (!route_completion(state, req, body, res)) local_completions(state, body, res);
                 });
}

}  // namespace ia::server
