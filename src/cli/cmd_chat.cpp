// `chat`: a conversation with a decoder model through its chat template.
// The model loads and every option is checked before the first prompt (a bad one
// is exit 2 at once). Interactive (the default): each line is a user turn (or a
// /command; `"""` opens and closes a message of several lines); the reply streams
// to stdout and joins the conversation; Ctrl-C stops a reply, a second one quits.
// At a terminal lines are edited with libedit, with history (src/cli/line_input).
// `--messages FILE.json`: one turn for a given conversation, no interaction.
// Turns run on a ChatSession, which keeps the KV cache and prefills only what
// differs from the previous turn's tokens (`--no-prefix-cache`: every turn
// prefills the whole conversation). A conversation that no longer fits the
// context with the reply's tokens loses its oldest turns (the system message stays).
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/line_input.h"
#include "core/bounded_json.h"
#include "core/error_outcome.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

using Json = nlohmann::ordered_json;

struct ChatArgs {
  std::string model, system, messages;
  std::vector<std::string> images;
  ipfs_accelerate::GenerateOptions options;
  ChatTemplateFlags template_flags;
  bool json = false;
  bool no_prefix_cache = false;
};

std::string dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A model without a chat template gets the command to use instead.
[[noreturn]] void rethrow_with_next_step(const ipfs_accelerate::Error& e) {
  const std::string msg = e.what();
  const size_t at = msg.find("no chat template (");
  if (e.kind() != "not_found" || at == std::string::npos) throw e;
  throw ipfs_accelerate::Error(e.kind(), msg.substr(0, at) + "this model has no chat template; use `generate` (" +
                                             msg.substr(at + std::string("no chat template (").size()));
}

template <typename Fn>
auto with_next_step(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const ipfs_accelerate::Error& e) {
    rethrow_with_next_step(e);
  }
}

// The messages of a --messages or /load file: a JSON list, or an object with "messages".
Json read_messages(const std::string& path, const std::string& what) {
  JsonLimits limits;
  limits.kind = ErrorKind::InvalidArgument;
  limits.max_bytes = kMaxCliInputBytes;
  Json given = parse_ordered_json_bounded(read_input_text(path, what), path, limits);
  if (given.is_object() && given.contains("messages")) given = given["messages"];
  if (!given.is_array()) throw ipfs_accelerate::Error("invalid_argument", path + ": expected a JSON list of messages");
  for (size_t i = 0; i < given.size(); ++i) {
    if (!given[i].is_object() || !given[i].contains("role") || !given[i]["role"].is_string())
      throw ipfs_accelerate::Error("invalid_argument",
                                   path + ": message " + std::to_string(i) + " is not an object with a \"role\"");
  }
  return given;
}

bool is_system(const Json& m) {
  return m.is_object() && m.value("role", "") == "system";
}

// A message's image items ({"type": "image"} in a content list), which the chat template renders
// as the model's image placeholder.
size_t image_items(const Json& m) {
  size_t n = 0;
  if (m.is_object() && m.contains("content") && m["content"].is_array())
    for (const auto& item : m["content"])
      if (item.is_object() && item.value("type", "") == "image") ++n;
  return n;
}

// A user message with `images` image items before its text.
Json user_message(const std::string& text, size_t images) {
  if (images == 0) return {{"role", "user"}, {"content", text}};
  Json content = Json::array();
  for (size_t i = 0; i < images; ++i) content.push_back({{"type", "image"}});
  content.push_back({{"type", "text"}, {"text", text}});
  return {{"role", "user"}, {"content", content}};
}

void require_image_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ipfs_accelerate::Error("not_found", "--image " + path + ": no such file");
}

const char* kHelp =
    "Commands:\n"
    "  /help                 this list\n"
    "  /bye, /exit           quit (so do Ctrl-D and Ctrl-C twice)\n"
    "  /clear                forget the conversation, keep the system message\n"
    "  /set                  show the settings\n"
    "  /set PARAM VALUE      temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,\n"
    "                        frequency_penalty, seed, max_tokens; VALUE unset: the default\n"
    "  /set system TEXT      replace the system message\n"
    "  /save FILE            write the conversation as JSON messages\n"
    "  /load FILE            continue a saved conversation (JSON messages)\n"
    "  /image FILE           attach an image to the next message (vision-language models)\n"
    "  \"\"\"                   a line of three quotes starts and ends a message of several lines\n"
    "Ctrl-C stops a reply; at the prompt it drops the line, twice in a row quits.\n";

class Chat {
 public:
  Chat(Context& ctx, const ChatArgs& a, const ipfs_accelerate::ChatTemplateOptions& tmpl)
      : ctx_(ctx), a_(a), options_(a.options), tmpl_(tmpl) {
    session_ = with_next_step([&] { return ctx_.accelerator().chat_session(a_.model); });
    // Everything the turns need, checked and loaded before the first prompt.
    with_next_step([&] {
      session_->prepare(options_, tmpl_);
      return 0;
    });
    if (!a_.system.empty()) conversation_.push_back({{"role", "system"}, {"content", a_.system}});
    for (const auto& f : a_.images) require_image_file(f);
    pending_images_ = a_.images;
  }

  // One turn for the conversation of a --messages file.
  int once() {
    Json given = read_messages(a_.messages, "--messages");
    // --system adds a system message unless the file starts with one.
    if (!given.empty() && is_system(given[0])) conversation_ = Json::array();
    for (const auto& m : given) conversation_.push_back(m);
    // --image files are the messages' image items in order; messages without any get them
    // before the text of their first user message.
    size_t items = 0;
    for (const auto& m : conversation_) items += image_items(m);
    if (items == 0 && !pending_images_.empty()) {
      for (auto& m : conversation_)
        if (m.value("role", "") == "user" && m.contains("content") && m["content"].is_string()) {
          m = user_message(m["content"].get<std::string>(), pending_images_.size());
          break;
        }
    }
    images_ = std::move(pending_images_);
    pending_images_.clear();
    fit_context();
    ipfs_accelerate::GenerateResult r = turn(options_);
    std::cout << (a_.json ? json_text(router::chat_result_json(r)) : r.text) << "\n" << std::flush;
    if (!ctx_.quiet) std::cerr << speed_summary(r) << "\n";
    return 0;
  }

  int interactive() {
    const bool terminal = isatty(STDIN_FILENO) != 0;
    SigintCatcher sigint;
    LineReader reader(/*edit=*/terminal, /*prompt=*/terminal);
    if (terminal) std::cerr << "Type a message; /help lists the commands, /bye or Ctrl-D quits.\n";
    ipfs_accelerate::GenerateOptions o;
    bool armed = false;  // the last thing that happened was a Ctrl-C: one more with nothing typed quits
    std::string line;
    for (;;) {
      bool typed = false;
      const LineReader::Result got = reader.read(">>> ", line, &typed);
      if (got == LineReader::Result::End) return 0;
      if (got == LineReader::Result::Interrupted) {
        if (armed && !typed) return 0;
        if (terminal && !typed) std::cerr << "(Ctrl-C again, /bye or Ctrl-D to quit)\n";
        armed = true;
        continue;
      }
      armed = false;
      reader.remember(line);
      std::string message;
      if (line.rfind("\"\"\"", 0) == 0) {
        bool ended = false;
        message = read_block(reader, line.substr(3), &ended);
        if (!ended) {  // a Ctrl-C dropped the message
          armed = true;
          continue;
        }
      } else if (line.rfind('/', 0) == 0) {
        if (!command(line)) return 0;
        continue;
      } else {
        message = line;
      }
      if (message.empty()) continue;

      conversation_.push_back(user_message(message, pending_images_.size()));
      const size_t attached = pending_images_.size();
      images_.insert(images_.end(), pending_images_.begin(), pending_images_.end());
      pending_images_.clear();
      o = options_;
      o.cancelled = [] { return SigintCatcher::pending(); };
      if (!a_.json) {
        o.on_text = [](const std::string& delta) {
          std::cout << delta;
          std::cout.flush();
        };
      }
      ipfs_accelerate::GenerateResult r;
      try {
        fit_context();
        r = turn(o);
      } catch (const ipfs_accelerate::Error& e) {
        // A turn the model cannot take (say, past its context) ends that turn, not the session.
        if (!e.is_user_error()) throw;
        std::cerr << cli_error_line({error_kind_from_name(e.kind()), e.what()}) << "\n";
        conversation_.erase(conversation_.end() - 1);
        images_.resize(images_.size() - std::min(attached, images_.size()));
        armed = SigintCatcher::take();
        continue;
      }
      if (a_.json) std::cout << json_text(router::chat_result_json(r));
      std::cout << "\n" << std::flush;
      // A reply stopped by Ctrl-C joins the conversation as far as it went, as it was shown.
      conversation_.push_back({{"role", "assistant"}, {"content", r.text}});
      armed = SigintCatcher::take();
    }
  }

 private:
  // The lines of a `"""` message up to the line that ends with `"""`; `first` is what followed
  // the opening quotes. *ended is false when a Ctrl-C dropped it; end of input ends it.
  std::string read_block(LineReader& reader, std::string first, bool* ended) {
    std::vector<std::string> parts;
    auto closes = [](std::string& s) {
      if (s.size() < 3 || s.compare(s.size() - 3, 3, "\"\"\"") != 0) return false;
      s.resize(s.size() - 3);
      return true;
    };
    *ended = true;
    const bool one_line = closes(first);
    if (!first.empty()) parts.push_back(first);
    std::string line;
    while (!one_line) {
      bool typed = false;
      const LineReader::Result got = reader.read("... ", line, &typed);
      if (got == LineReader::Result::End) break;
      if (got == LineReader::Result::Interrupted) {
        *ended = false;
        return {};
      }
      reader.remember(line);
      const bool last = closes(line);
      if (!last || !line.empty()) parts.push_back(line);
      if (last) break;
    }
    std::string text;
    for (size_t i = 0; i < parts.size(); ++i) text += (i ? "\n" : "") + parts[i];
    return text;
  }

  ipfs_accelerate::GenerateResult turn(ipfs_accelerate::GenerateOptions o) {
    o.images = images_;
    const std::string messages = dump(conversation_);
    ipfs_accelerate::GenerateResult r = with_next_step([&] {
      return a_.no_prefix_cache ? ctx_.accelerator().chat(a_.model, messages, o, tmpl_)
                                : session_->chat(messages, o, tmpl_);
    });
    if (ctx_.verbose)
      std::cerr << "chat: " << r.prompt_ids.size() << " prompt tokens, reused " << r.cached_prompt_tokens
                << " cached, prefilled " << r.prompt_ids.size() - static_cast<size_t>(r.cached_prompt_tokens) << " in "
                << static_cast<int64_t>(r.prefill_ms) << " ms\n";
    return r;
  }

  // Drops the oldest turns (a user message and what answered it) while the prompt and the
  // tokens the reply may take do not fit the context; the system message and the last user
  // message stay.
  void fit_context() {
    size_t dropped = 0;
    ipfs_accelerate::ChatSession::Fit f, before;
    for (;;) {
      ipfs_accelerate::GenerateOptions fo = options_;
      fo.images = images_;
      f = session_->fit(dump(conversation_), fo, tmpl_);
      if (!dropped) before = f;
      if (f.prompt_tokens + f.max_new_tokens <= f.context_tokens) break;
      const size_t first = !conversation_.empty() && is_system(conversation_[0]) ? 1 : 0;
      size_t next = first + 1;
      while (next < conversation_.size() && conversation_[next].value("role", "") != "user") ++next;
      if (next >= conversation_.size()) break;  // only the last user message is left
      size_t images = 0;                        // the dropped messages' images leave the conversation's list
      for (size_t i = first; i < next; ++i) images += image_items(conversation_[i]);
      images_.erase(images_.begin(), images_.begin() + static_cast<std::ptrdiff_t>(std::min(images, images_.size())));
      conversation_.erase(conversation_.begin() + static_cast<std::ptrdiff_t>(first),
                          conversation_.begin() + static_cast<std::ptrdiff_t>(next));
      dropped += next - first;
    }
    if (dropped)
      std::cerr << "chat: the conversation (" << before.prompt_tokens << " tokens) and the reply ("
                << before.max_new_tokens << ") do not fit the context of " << before.context_tokens
                << " tokens; dropped the " << dropped << " oldest message" << (dropped == 1 ? "" : "s")
                << " (the system message stays)\n";
  }

  void error(const std::string& message) { std::cerr << cli_error_line({ErrorKind::InvalidArgument, message}) << "\n"; }

  // A /command; false to quit.
  bool command(const std::string& line) {
    std::istringstream in(line);
    std::string name, arg;
    in >> name;
    std::getline(in >> std::ws, arg);
    while (!arg.empty() && (arg.back() == ' ' || arg.back() == '\t')) arg.pop_back();
    if (name == "/bye" || name == "/exit" || name == "/quit") return false;
    if (name == "/help" || name == "/?") {
      std::cerr << kHelp;
    } else if (name == "/clear" || name == "/reset") {
      conversation_.erase(conversation_.begin() + (!conversation_.empty() && is_system(conversation_[0]) ? 1 : 0),
                          conversation_.end());
      images_.clear();
      pending_images_.clear();
      std::cerr << "chat: conversation cleared\n";
    } else if (name == "/image") {
      std::error_code ec;
      if (arg.empty()) {
        error("/image needs a FILE");
      } else if (!std::filesystem::is_regular_file(arg, ec)) {
        error("/image: no such file \"" + arg + "\"");
      } else {
        pending_images_.push_back(arg);
        std::cerr << "chat: " << arg << " goes with the next message\n";
      }
    } else if (name == "/set") {
      set(arg);
    } else if (name == "/save" || name == "/load") {
      if (arg.empty())
        error(name + " needs a FILE");
      else if (name == "/save")
        save(arg);
      else
        load(arg);
    } else {
      error("unknown command " + name + " (/help lists them; \"\"\" sends a message that starts with /)");
    }
    return true;
  }

  void show_settings() const {
    auto opt = [](const auto& v) {
      std::ostringstream s;
      if (v)
        s << *v;
      else
        s << "default";
      return s.str();
    };
    std::cerr << "temperature " << opt(options_.temperature) << "\ntop_p " << opt(options_.top_p) << "\ntop_k "
              << opt(options_.top_k) << "\nmin_p " << opt(options_.min_p) << "\nrepetition_penalty "
              << opt(options_.repetition_penalty) << "\npresence_penalty " << options_.presence_penalty
              << "\nfrequency_penalty " << options_.frequency_penalty << "\nseed " << opt(options_.seed)
              << "\nmax_tokens " << opt(options_.max_new_tokens) << "\nsystem "
              << (!conversation_.empty() && is_system(conversation_[0]) ? dump(conversation_[0]["content"])
                                                                        : std::string("none"))
              << "\n";
  }

  // /set PARAM VALUE: the new options are checked as at the start (prepare) before they count.
  void set(const std::string& arg) {
    if (arg.empty()) return show_settings();
    const size_t sp = arg.find_first_of(" \t");
    std::string param = arg.substr(0, sp);
    for (char& c : param)
      if (c == '-') c = '_';
    std::string value = sp == std::string::npos ? "" : arg.substr(arg.find_first_not_of(" \t", sp));
    if (param == "system") {
      const bool has = !conversation_.empty() && is_system(conversation_[0]);
      if (value.empty()) {
        if (has) conversation_.erase(conversation_.begin());
      } else if (has) {
        conversation_[0]["content"] = value;
      } else {
        conversation_.insert(conversation_.begin(), Json{{"role", "system"}, {"content", value}});
      }
      std::cerr << "chat: system message " << (value.empty() ? "removed" : "set") << "\n";
      return;
    }
    const bool unset = value == "unset" || value == "default";
    if (value.empty()) return error("/set " + param + " needs a VALUE (or unset)");
    auto number = [&](auto& out) {
      const char* end = value.data() + value.size();
      auto [ptr, ec] = std::from_chars(value.data(), end, out);
      if (ec != std::errc() || ptr != end)
        throw ipfs_accelerate::Error("invalid_argument", "/set " + param + ": \"" + value + "\" is not a number");
    };
    ipfs_accelerate::GenerateOptions o = options_;
    try {
      float f = 0;
      if (param == "temperature" || param == "top_p" || param == "min_p" || param == "repetition_penalty") {
        std::optional<float>& field = param == "temperature" ? o.temperature
                                      : param == "top_p"     ? o.top_p
                                      : param == "min_p"     ? o.min_p
                                                             : o.repetition_penalty;
        if (unset) {
          field.reset();
        } else {
          number(f);
          field = f;
        }
      } else if (param == "presence_penalty" || param == "frequency_penalty") {
        float& field = param == "presence_penalty" ? o.presence_penalty : o.frequency_penalty;
        if (unset) {
          field = 0;
        } else {
          number(f);
          field = f;
        }
      } else if (param == "top_k" || param == "max_tokens" || param == "max_new_tokens") {
        std::optional<int>& field = param == "top_k" ? o.top_k : o.max_new_tokens;
        int n = 0;
        if (unset) {
          field.reset();
        } else {
          number(n);
          field = n;
        }
      } else if (param == "seed") {
        uint64_t n = 0;
        if (unset) {
          o.seed.reset();
        } else {
          number(n);
          o.seed = n;
        }
      } else {
        return error("/set: unknown parameter \"" + param +
                     "\" (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, "
                     "frequency_penalty, seed, max_tokens, system)");
      }
      session_->prepare(o, tmpl_);
    } catch (const ipfs_accelerate::Error& e) {
      if (!e.is_user_error()) throw;
      std::cerr << cli_error_line({error_kind_from_name(e.kind()), e.what()}) << "\n";
      return;
    }
    options_ = o;
    std::cerr << "chat: " << param << " " << (unset ? "unset" : value) << "\n";
  }

  // The conversation as a JSON list of messages, written under a temporary name and renamed,
  // so FILE is the old file or the whole new one.
  void save(const std::string& path) {
    namespace fs = std::filesystem;
    const std::string tmp = path + ".tmp-" + std::to_string(getpid());
    std::error_code ec;
    {
      std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
      f << dump(conversation_, 2) << "\n";
      f.close();
      if (!f) {
        fs::remove(tmp, ec);
        return error("/save: cannot write \"" + tmp + "\"");
      }
    }
    fs::rename(tmp, path, ec);
    if (ec) {
      fs::remove(tmp, ec);
      return error("/save: cannot write \"" + path + "\": " + ec.message());
    }
    std::cerr << "chat: saved " << conversation_.size() << " messages to " << path << "\n";
  }

  // A saved conversation replaces this one; as with --messages, the system message of
  // --system (or /set system) stays unless the file starts with its own.
  void load(const std::string& path) {
    Json given;
    try {
      given = read_messages(path, "/load");
    } catch (const ipfs_accelerate::Error& e) {
      if (!e.is_user_error()) throw;
      std::cerr << cli_error_line({error_kind_from_name(e.kind()), e.what()}) << "\n";
      return;
    } catch (const ia::Error& e) {
      std::cerr << cli_error_line({e.kind(), e.what()}) << "\n";
      return;
    }
    Json next = Json::array();
    if ((given.empty() || !is_system(given[0])) && !conversation_.empty() && is_system(conversation_[0]))
      next.push_back(conversation_[0]);
    for (const auto& m : given) next.push_back(m);
    conversation_ = std::move(next);
    std::cerr << "chat: loaded " << given.size() << " messages from " << path << "\n";
  }

  Context& ctx_;
  const ChatArgs& a_;
  ipfs_accelerate::GenerateOptions options_;  // the flags, then /set
  ipfs_accelerate::ChatTemplateOptions tmpl_;
  std::unique_ptr<ipfs_accelerate::ChatSession> session_;
  Json conversation_ = Json::array();
  std::vector<std::string> images_;          // the conversation's image files, in its image items' order
  std::vector<std::string> pending_images_;  // --image / /image files for the next user message
};

int run_chat(Context& ctx, const ChatArgs& a, const CLI::App* sub) {
  Chat chat(ctx, a, chat_template_options(sub, a.template_flags));
  return a.messages.empty() ? chat.interactive() : chat.once();
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
  sub->add_option("--image", a->images,
                  "Image file for a vision-language model (repeatable): attached to the first user message (with "
                  "--messages: the messages' image items in order, or the first user message's when none)");
  add_generation_flags(sub, a->options, "Stop a reply when its text contains STR (repeatable)");
  add_chat_template_flags(sub, a->template_flags);
  sub->add_flag("--json", a->json,
                "One JSON object per reply: generate's (text, finish_reason, usage, timings, model, device, dtype) "
                "plus message {role, content}");
  sub->add_flag("--no-prefix-cache", a->no_prefix_cache,
                "Prefill the whole conversation every turn instead of reusing the KV cache of the previous one");
  sub->callback([&ctx, &action, a, sub] { action = [&ctx, a, sub] { return run_chat(ctx, *a, sub); }; });
}

}  // namespace ia::cli
