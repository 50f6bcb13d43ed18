#pragma once
// Shared pieces of the CLI subcommands: the Accelerator they all use, and a
// registry of subcommands each defined in its own file.
#include <cstddef>
#include <functional>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ipfs_accelerate/accelerator.h"
#include "router/deployment_router.h"

namespace ia::cli {

struct Context {
  int threads = 0;
  bool verbose = false;
  bool quiet = false;  // no timing summary on stderr
  // Created on first use so `--help` and parse errors never load anything.
  ipfs_accelerate::Accelerator& accelerator();

 private:
  std::unique_ptr<ipfs_accelerate::Accelerator> accelerator_;
};

// The one-line speed summary generate and chat print on stderr at the end, as llama-cli
// does: prompt tokens prefilled and their rate, generated tokens and their rate, and the
// time to the first token.
std::string speed_summary(const ipfs_accelerate::GenerateResult& r);

// A subcommand's body: runs after parsing, returns the exit status. It may
// throw ipfs_accelerate::Error, ia::Error or std::filesystem::filesystem_error;
// main turns them into one stderr line and exit status 2 (1 for internal ones).
using Action = std::function<int()>;

void register_embed(CLI::App& app, Context& ctx, Action& action);
void register_classify(CLI::App& app, Context& ctx, Action& action);
void register_detect(CLI::App& app, Context& ctx, Action& action);
void register_similarity(CLI::App& app, Context& ctx, Action& action);
void register_tokenize(CLI::App& app, Context& ctx, Action& action);
void register_inspect(CLI::App& app, Context& ctx, Action& action);
void register_hardware(CLI::App& app, Context& ctx, Action& action);
void register_chat_template(CLI::App& app, Context& ctx, Action& action);
void register_generate(CLI::App& app, Context& ctx, Action& action);
void register_chat(CLI::App& app, Context& ctx, Action& action);
void register_dev(CLI::App& app, Context& ctx, Action& action);
void register_ipfs(CLI::App& app, Context& ctx, Action& action);
void register_models(CLI::App& app, Context& ctx, Action& action);
void register_pull(CLI::App& app, Context& ctx, Action& action);
void register_serve(CLI::App& app, Context& ctx, Action& action);
void register_transcribe(CLI::App& app, Context& ctx, Action& action);
void register_eval(CLI::App& app, Context& ctx, Action& action);
void register_quantize(CLI::App& app, Context& ctx, Action& action);
void register_bench(CLI::App& app, Context& ctx, Action& action);
void register_providers(CLI::App& app, Context& ctx, Action& action);
void register_status(CLI::App& app, Context& ctx, Action& action);

// The router for --provider NAME / --providers FILE: the file's, else one provider configured
// from its environment variables (InvalidArgument for an unknown name).
std::unique_ptr<ia::router::Router> open_router(const std::string& provider, const std::string& providers_file);

// The sampling, stopping and placement flags `generate` and `chat` share, bound
// straight to the options they fill. `stop_help` words --stop for the command.
void add_generation_flags(CLI::App* sub, ipfs_accelerate::GenerateOptions& options, const std::string& stop_help);

// The chat-template flags `chat-template` and `chat` share: --template NAME, --tools FILE.json,
// --documents FILE.json, --vars FILE.json.
struct ChatTemplateFlags {
  std::string template_name, tools, documents, vars;
};
void add_chat_template_flags(CLI::App* sub, ChatTemplateFlags& flags);
// The options those flags give (the files read now: NotFound when one cannot be; their JSON
// is checked where the template uses it).
ipfs_accelerate::ChatTemplateOptions chat_template_options(const CLI::App* sub, const ChatTemplateFlags& flags);

// JSON as every command prints it (no newline): one compact line, or indented (2 spaces)
// after set_pretty_json(true) (the global --pretty). Invalid UTF-8 in strings becomes U+FFFD.
void set_pretty_json(bool pretty);
std::string json_text(const nlohmann::json& j);
// The same for JSON already written as text (the embed serializer's, inspect's, hardware's); key order kept.
std::string json_text(const std::string& json);

// Walks `args` (argv as given) through `app`'s commands before CLI11 parses
// them: the line to print for an unknown command or option, with the nearest
// known name of that command level ("did you mean --model?"), else nullopt.
// Options of a parent command count at its subcommands (fallthrough).
std::optional<std::string> check_arguments(const CLI::App& app, const std::vector<std::string>& args);

// Most bytes the CLI reads from one input (--messages, --input, stdin); an
// endless stream is refused instead of exhausting memory.
inline constexpr size_t kMaxCliInputBytes = 64u << 20;

// The whole text of a file, or of standard input for "-": NotFound when it
// cannot be opened, InvalidArgument "WHAT: ... limit" past kMaxCliInputBytes.
std::string read_input_text(const std::string& path, const std::string& what);

// std::getline with the total bytes read from `in` (counted in *total) capped
// at kMaxCliInputBytes: false at end of input, InvalidArgument naming `what` past it.
bool read_input_line(std::istream& in, std::string& line, size_t* total, const std::string& what);

}  // namespace ia::cli
