// `chat-template`: the prompt a model folder's chat template makes of a
// conversation, as transformers' apply_chat_template(tokenize=False). Prints
// the raw text (no JSON, no added newline) so it can be piped.
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>

#include "cli/cli_common.h"

namespace ia::cli {

namespace {

// A file's text; "-" is standard input.
std::string read_input(const std::string& path, const char* what) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ipfs_accelerate::Error("not_found", std::string(what) + " file " + path + ": cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace

void register_chat_template(CLI::App& app, Context& ctx, Action& action) {
  struct Args {
    std::string model, messages;
    ChatTemplateFlags flags;
    bool add_generation_prompt = false;
  };
  auto a = std::make_shared<Args>();
  CLI::App* sub = app.add_subcommand("chat-template", "Render the model's chat template for a conversation");
  sub->add_option("-m,--model", a->model, "Hugging Face model folder")->required();
  sub->add_option("--messages", a->messages, "JSON file: a list of {role, content} messages ('-': stdin)")->required();
  sub->add_flag("--add-generation-prompt", a->add_generation_prompt, "End with the assistant turn's opening");
  add_chat_template_flags(sub, a->flags);
  sub->callback([&ctx, &action, a, sub] {
    action = [&ctx, a, sub] {
      ipfs_accelerate::ChatTemplateOptions o = chat_template_options(sub, a->flags);
      o.add_generation_prompt = a->add_generation_prompt;
      std::string prompt = ctx.accelerator().render_chat_template(a->model, read_input(a->messages, "messages"), o);
      std::cout << prompt;
      std::cout.flush();
      return 0;
    };
  });
}

}  // namespace ia::cli
