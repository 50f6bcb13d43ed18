// `tokenize` and `detokenize`: the model folder's tokenizer, exactly.
// `tokenize --input FILE.jsonl` tokenizes one JSON string or {"text", "pair"}
// object per line, in parallel, printing one JSON result per line in order.
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "core/bounded_json.h"
#include "router/result_json.h"

namespace ia::cli {

namespace {

// Reads the whole JSONL file first, so a bad line fails before any output.
std::vector<std::pair<std::string, std::optional<std::string>>> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ipfs_accelerate::Error("not_found", "--input file '" + path + "' cannot be opened");
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  std::string line;
  size_t n = 0;
  auto bad = [&](const std::string& why) {
    throw ipfs_accelerate::Error("invalid_argument", path + ":" + std::to_string(n) + ": " + why);
  };
  size_t read_bytes = 0;
  while (read_input_line(in, line, &read_bytes, "--input file '" + path + "'")) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are skipped
    nlohmann::json j;
    JsonLimits limits;
    limits.kind = ErrorKind::InvalidArgument;
    j = parse_json_bounded(line, path + ":" + std::to_string(n), limits);
    if (j.is_string()) {
      out.emplace_back(j.get<std::string>(), std::nullopt);
    } else if (j.is_object() && j.contains("text") && j["text"].is_string()) {
      std::optional<std::string> pair;
      if (auto it = j.find("pair"); it != j.end() && !it->is_null()) {
        if (!it->is_string()) bad("\"pair\" must be a string");
        pair = it->get<std::string>();
      }
      out.emplace_back(j["text"].get<std::string>(), pair);
    } else {
      bad("expected a JSON string or an object with a string \"text\"");
    }
  }
  if (in.bad()) throw ipfs_accelerate::Error("corrupt", "--input file '" + path + "' could not be read");
  return out;
}

}  // namespace

void register_tokenize(CLI::App& app, Context& ctx, Action& action) {
  struct TokenizeArgs {
    std::string model, text, pair, input;
    bool no_special = false;
  };
  auto t = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand("tokenize", "Token ids and tokens of a text");
  sub->add_option("-m,--model", t->model, "Hugging Face model folder")->required();
  sub->add_flag("--no-special-tokens", t->no_special, "Do not add [CLS]/[SEP]/BOS/... tokens");
  sub->add_option("--pair", t->pair, "Second sequence of a pair input");
  auto* input = sub->add_option(
      "--input", t->input, "JSONL file: one JSON string or {\"text\":…, \"pair\":…} per line; one result per line");
  auto* text = sub->add_option("text", t->text, "Text to tokenize");
  input->excludes(text);
  sub->callback([&ctx, &action, t, sub] {
    action = [&ctx, t, sub] {
      const bool batch = sub->count("--input") > 0;
      if (!batch && sub->count("text") == 0) {
        throw ipfs_accelerate::Error("invalid_argument", "tokenize: give a TEXT or --input FILE.jsonl");
      }
      if (batch) {
        if (sub->count("--pair"))
          throw ipfs_accelerate::Error("invalid_argument", "--pair cannot be used with --input");
        const auto inputs = read_jsonl(t->input);
        const auto results = ctx.accelerator().tokenize_batch(t->model, inputs, !t->no_special);
        std::string out;
        for (const auto& r : results) out += json_text(router::tokenize_result_json(r)) + "\n";
        std::cout << out;
        return 0;
      }
      std::optional<std::string> pair;
      if (sub->count("--pair")) pair = t->pair;
      auto r = ctx.accelerator().tokenize(t->model, t->text, !t->no_special, pair);
      std::cout << json_text(router::tokenize_result_json(r)) << "\n";
      return 0;
    };
  });

  struct DetokenizeArgs {
    std::string model;
    std::vector<int> ids;
    bool skip_special = false;
  };
  auto d = std::make_shared<DetokenizeArgs>();
  CLI::App* dsub = app.add_subcommand("detokenize", "Text of token ids");
  dsub->add_option("-m,--model", d->model, "Hugging Face model folder")->required();
  dsub->add_flag("--skip-special-tokens", d->skip_special, "Leave out special tokens");
  dsub->add_option("id", d->ids, "Token ids")->required();
  dsub->callback([&ctx, &action, d] {
    action = [&ctx, d] {
      nlohmann::json j;
      j["text"] = ctx.accelerator().detokenize(d->model, d->ids, d->skip_special);
      std::cout << json_text(j) << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
