// `tokenize` and `detokenize`: the model folder's tokenizer.json, exactly.
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"

namespace ia::cli {

void register_tokenize(CLI::App& app, Context& ctx, Action& action) {
  struct TokenizeArgs {
    std::string model, text, pair;
    bool no_special = false;
  };
  auto t = std::make_shared<TokenizeArgs>();
  CLI::App* sub = app.add_subcommand("tokenize", "Token ids and tokens of a text");
  sub->add_option("--model", t->model, "Hugging Face model folder")->required();
  sub->add_flag("--no-special-tokens", t->no_special, "Do not add [CLS]/[SEP]/BOS/... tokens");
  sub->add_option("--pair", t->pair, "Second sequence of a pair input");
  sub->add_option("text", t->text, "Text to tokenize")->required();
  sub->callback([&ctx, &action, t, sub] {
    action = [&ctx, t, sub] {
      std::optional<std::string> pair;
      if (sub->count("--pair")) pair = t->pair;
      auto r = ctx.accelerator().tokenize(t->model, t->text, !t->no_special, pair);
      nlohmann::json j;
      j["ids"] = r.ids;
      j["tokens"] = r.tokens;
      j["type_ids"] = r.type_ids;
      nlohmann::json offsets = nlohmann::json::array();
      for (const auto& [a, b] : r.offsets) offsets.push_back({a, b});
      j["offsets"] = offsets;
      std::cout << j.dump() << "\n";
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
  dsub->add_option("--model", d->model, "Hugging Face model folder")->required();
  dsub->add_flag("--skip-special-tokens", d->skip_special, "Leave out special tokens");
  dsub->add_option("id", d->ids, "Token ids")->required();
  dsub->callback([&ctx, &action, d] {
    action = [&ctx, d] {
      nlohmann::json j;
      j["text"] = ctx.accelerator().detokenize(d->model, d->ids, d->skip_special);
      std::cout << j.dump() << "\n";
      return 0;
    };
  });
}

}  // namespace ia::cli
