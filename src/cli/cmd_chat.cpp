// `chat`: a conversation with a decoder model through its chat template.
// Interactive (the default): each stdin line is a user turn; the reply streams
// to stdout and joins the conversation. `--messages FILE.json`: one turn for a
// given conversation, no interaction. Turns run on a ChatSession, which keeps the
// KV cache and prefills only what differs from the previous turn's tokens
// (`--no-prefix-cache`: every turn prefills the whole conversation).
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/bounded_json.h"
#include "core/error_outcome.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

using Json = nlohmann::json;

struct ChatArgs {
  std::string model, system, messages;
  ipfs_accelerate::GenerateOptions options;
  bool json = false;
  bool no_prefix_cache = false;
};

using router::dump_json;

// A model without a chat template gets the command to use instead.
[[noreturn]] void rethrow_with_next_step(const ipfs_accelerate::Error& e) {
  const std::string msg = e.what();
  const size_t at = msg.find("no chat template (");
  if (e.kind() != "not_found" || at == std::string::npos) throw e;
  throw ipfs_accelerate::Error(e.kind(), msg.substr(0, at) + "this model has no chat template; use `generate` (" +
                                             msg.substr(at + std::string("no chat template (").size()));
}

int run_chat(Context& ctx, const ChatArgs& a) {
  ipfs_accelerate::GenerateOptions o = a.options;
  std::unique_ptr<ipfs_accelerate::ChatSession> session;
  try {
    if (!a.no_prefix_cache) session = ctx.accelerator().chat_session(a.model);
  } catch (const ipfs_accelerate::Error& e) {
    rethrow_with_next_step(e);
  }
  auto turn = [&](const Json& messages) {
    ipfs_accelerate::GenerateResult r;
    try {
      r = session ? session->chat(dump_json(messages), o) : ctx.accelerator().chat(a.model, dump_json(messages), o);
    } catch (const ipfs_accelerate::Error& e) {
      rethrow_with_next_step(e);
    }
    if (ctx.verbose)
      std::cerr << "chat: " << r.prompt_ids.size() << " prompt tokens, reused " << r.cached_prompt_tokens
                << " cached, prefilled " << r.prompt_ids.size() - static_cast<size_t>(r.cached_prompt_tokens) << " in "
                << static_cast<int64_t>(r.prefill_ms) << " ms\n";
    return r;
  };
  Json conversation = Json::array();
  if (!a.system.empty()) conversation.push_back({{"role", "system"}, {"content", a.system}});

  if (!a.messages.empty()) {
    JsonLimits limits;
    limits.kind = ErrorKind::InvalidArgument;
    limits.max_bytes = kMaxCliInputBytes;
    Json given = parse_json_bounded(read_input_text(a.messages, "--messages"), a.messages, limits);
    if (given.is_object() && given.contains("messages")) given = given["messages"];
    if (!given.is_array())
      throw ipfs_accelerate::Error("invalid_argument", a.messages + ": expected a JSON list of messages");
    // --system adds a system message unless the file starts with one.
    const bool has_system = !given.empty() && given[0].is_object() && given[0].value("role", "") == "system";
    if (has_system) conversation = Json::array();
    for (const auto& m : given) conversation.push_back(m);
    ipfs_accelerate::GenerateResult r = turn(conversation);
    std::cout << (a.json ? json_text(router::chat_result_json(r)) : r.text) << "\n" << std::flush;
    if (!ctx.quiet) std::cerr << speed_summary(r) << "\n";
    return 0;
  }

  // Interactive: a prompt marker only on a terminal, so piped output is just the replies.
  const bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (tty) std::cerr << "Type a message; /reset starts over, /exit or end of input quits.\n";
  if (!a.json) {
    o.on_text = [](const std::string& delta) {
      std::cout << delta;
      std::cout.flush();
    };
  }
  std::string line;
  while (true) {
    if (tty) std::cout << "> " << std::flush;
    size_t read_bytes = 0;  // the cap is per line: a session may run long
    if (!read_input_line(std::cin, line, &read_bytes, "chat: standard input")) break;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      conversation.erase(conversation.begin() + (a.system.empty() ? 0 : 1), conversation.end());
      continue;
    }
    conversation.push_back({{"role", "user"}, {"content", line}});
    ipfs_accelerate::GenerateResult r;
    try {
      r = turn(conversation);
    } catch (const ipfs_accelerate::Error& e) {
      // A turn the model cannot take (say, past its context) ends that turn, not the session.
      if (!e.is_user_error()) throw;
      std::cerr << cli_error_line({error_kind_from_name(e.kind()), e.what()}) << "\n";
      conversation.erase(conversation.end() - 1);
      continue;
    }
    if (a.json) std::cout << json_text(router::chat_result_json(r));
    std::cout << "\n" << std::flush;
    conversation.push_back({{"role", "assistant"}, {"content", r.text}});
  }
  return 0;
}

}  // namespace

void register_chat(CLI::App& app, Context& ctx, Action& action) {
  auto a = std::make_shared<ChatArgs>();
  CLI::App* sub =
      app.add_subcommand("chat", "Chat with a decoder model through its chat template (interactive, streaming)");
  sub->add_option("-m,--model", a->model, "Hugging Face model folder")->required();
  sub->add_option("--system", a->system, "System message that opens the conversation");
  sub->add_option("--messages", a->messages,
                  "JSON file ('-': stdin) of {role, content} messages: answer once, no interaction");
  add_generation_flags(sub, a->options, "Stop a reply when its text contains STR (repeatable)");
  sub->add_flag("--json", a->json,
                "One JSON object per reply: generate's (text, finish_reason, usage, timings, model, device, dtype) "
                "plus message {role, content}");
  sub->add_flag("--no-prefix-cache", a->no_prefix_cache,
                "Prefill the whole conversation every turn instead of reusing the KV cache of the previous one");
  sub->callback([&ctx, &action, a] { action = [&ctx, a] { return run_chat(ctx, *a); }; });
}

}  // namespace ia::cli
