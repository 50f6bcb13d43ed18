#include "cli/cli_common.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string>

namespace ia::cli {

ipfs_accelerate::Accelerator& Context::accelerator() {
  if (!accelerator_) {
    ipfs_accelerate::AcceleratorOptions opts;
    opts.threads = threads;
    accelerator_ = std::make_unique<ipfs_accelerate::Accelerator>(opts);
  }
  return *accelerator_;
}

namespace {
[[noreturn]] void input_too_large(const std::string& what) {
  throw ipfs_accelerate::Error(
      "invalid_argument", what + ": input larger than the limit of " + std::to_string(kMaxCliInputBytes) + " bytes");
}
}  // namespace

std::string read_input_text(const std::string& path, const std::string& what) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) throw ipfs_accelerate::Error("not_found", what + ": cannot read \"" + path + "\"");
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::string out;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    out.append(buf, static_cast<size_t>(in.gcount()));
    if (out.size() > kMaxCliInputBytes) input_too_large(what);
  }
  return out;
}

bool read_input_line(std::istream& in, std::string& line, size_t* total, const std::string& what) {
  line.clear();
  std::istream::sentry ok(in, true);
  if (!ok) return false;
  for (int c = in.rdbuf()->sbumpc();; c = in.rdbuf()->sbumpc()) {
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      if (line.empty()) in.setstate(std::ios::failbit);
      return !line.empty();
    }
    if (++*total > kMaxCliInputBytes) input_too_large(what);
    if (c == '\n') return true;
    line.push_back(static_cast<char>(c));
  }
}

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// The candidate nearest to `given`, if near enough to be what was meant.
std::string nearest(const std::string& given, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = std::string::npos;
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(given, c);
    if (d < best_d) best = c, best_d = d;
  }
  // No guess for a one-letter flag: any other letter is as near.
  const bool one_letter_flag = given.size() <= 2 && given[0] == '-';
  const size_t limit = one_letter_flag ? 0 : std::min<size_t>(3, std::max<size_t>(1, given.size() / 3));
  return best_d <= limit && best_d > 0 ? best : "";
}

std::string command_path(const CLI::App* app) {
  std::string path;
  for (; app && app->get_parent(); app = app->get_parent()) path = app->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

}  // namespace

std::optional<std::string> check_arguments(const CLI::App& app, const std::vector<std::string>& args) {
  const CLI::App* cur = &app;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") break;
    const bool negative_number =
        a.size() > 1 && a[0] == '-' && (std::isdigit(static_cast<unsigned char>(a[1])) || a[1] == '.');
    if (a.size() > 1 && a[0] == '-' && !negative_number) {
      const bool long_name = a.rfind("--", 0) == 0;
      // --name=value; -xVALUE and -xyz name their option by the first letter.
      const std::string name = long_name ? a.substr(0, a.find('=')) : a.substr(0, 2);
      const CLI::Option* opt = nullptr;
      for (const CLI::App* level = cur; level && !opt; level = level->get_parent())
        opt = level->get_option_no_throw(name);
      if (!opt) {
        std::vector<std::string> known;
        for (const CLI::App* level = cur; level; level = level->get_parent())
          for (const CLI::Option* o : level->get_options()) {
            for (const std::string& l : o->get_lnames()) known.push_back("--" + l);
            for (const std::string& s : o->get_snames()) known.push_back("-" + s);
          }
        const std::string where = cur->get_parent() ? " for `" + command_path(cur) + "`" : "";
        const std::string guess = nearest(name, known);
        return "unknown option \"" + name + "\"" + where + (guess.empty() ? "" : "; did you mean " + guess + "?") +
               " (see " + (where.empty() ? "" : command_path(cur) + " ") + "--help)";
      }
      if (opt->get_items_expected_min() > 0 && a.size() == name.size() && (long_name || a.size() == 2)) ++i;
      continue;
    }
    const std::vector<const CLI::App*> subs = cur->get_subcommands({});
    if (subs.empty()) continue;  // a positional argument of the command
    const CLI::App* next = nullptr;
    std::vector<std::string> names;
    for (const CLI::App* sub : subs) {
      if (sub->get_name() == a) next = sub;
      names.push_back(sub->get_name());
    }
    if (next) {
      cur = next;
      continue;
    }
    if (!cur->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty()) continue;
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    const std::string guess = nearest(a, names);
    const std::string where = cur->get_parent() ? " of `" + command_path(cur) + "`" : "";
    return "unknown command \"" + a + "\"" + where + (guess.empty() ? "" : "; did you mean " + guess + "?") +
           " (commands: " + list + ")";
  }
  return std::nullopt;
}

std::string speed_summary(const ipfs_accelerate::GenerateResult& r) {
  const auto prefilled = static_cast<double>(r.prompt_ids.size()) - r.cached_prompt_tokens;
  auto rate = [](double tok_s) { return tok_s > 0 ? fmt::format("{:.1f} tok/s", tok_s) : std::string("-"); };
  // The first token comes from the prefill step, the rest from decode steps, whose rate the runtime measured.
  return fmt::format(
      "speed: prompt {:.0f} tokens in {:.1f} ms ({}), generated {} tokens in {:.1f} ms ({}), first token after "
      "{:.1f} ms",
      prefilled, r.prefill_ms, rate(r.prefill_ms > 0 ? prefilled * 1000.0 / r.prefill_ms : 0), r.ids.size(),
      r.decode_ms, rate(r.decode_tokens_per_s), r.prefill_ms);
}

void add_chat_template_flags(CLI::App* sub, ChatTemplateFlags& f) {
  sub->add_option("--template", f.template_name, "A named template of the folder (e.g. tool_use)");
  sub->add_option("--tools", f.tools, "JSON file: a list of tool (function) schemas");
  sub->add_option("--documents", f.documents, "JSON file: a list of documents");
  sub->add_option("--vars", f.vars, "JSON file: an object of further template variables");
}

ipfs_accelerate::ChatTemplateOptions chat_template_options(const CLI::App* sub, const ChatTemplateFlags& f) {
  ipfs_accelerate::ChatTemplateOptions o;
  if (sub->count("--template")) o.template_name = f.template_name;
  if (sub->count("--tools")) o.tools_json = read_input_text(f.tools, "--tools");
  if (sub->count("--documents")) o.documents_json = read_input_text(f.documents, "--documents");
  if (sub->count("--vars")) o.extra_json = read_input_text(f.vars, "--vars");
  return o;
}

namespace {
bool g_pretty_json = false;
}  // namespace

void set_pretty_json(bool pretty) {
  g_pretty_json = pretty;
}

std::string json_text(const nlohmann::json& j) {
  return j.dump(g_pretty_json ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string json_text(const std::string& json) {
  // Compact JSON has no raw newline (strings escape theirs): such text is printed as it is.
  if (!g_pretty_json && json.find('\n') == std::string::npos) return json;
  return nlohmann::ordered_json::parse(json).dump(g_pretty_json ? 2 : -1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace);
}

namespace {

// The flags of ipfs_accelerate::SamplingOptions, which the router hands to the sampler as they are.
void add_sampling_flags(CLI::App* sub, ipfs_accelerate::SamplingOptions& o) {
  sub->add_option("--temperature", o.temperature, "0 = greedy (default: generation_config.json's do_sample decides)");
  sub->add_option("--top-k", o.top_k, "Keep the k most likely tokens (0 = off)");
  sub->add_option("--top-p", o.top_p, "Nucleus sampling mass, in (0, 1]");
  sub->add_option("--min-p", o.min_p, "Drop tokens below min_p x the top probability");
  sub->add_option("--repetition-penalty", o.repetition_penalty, "HF repetition penalty (> 0; 1 = off)");
  sub->add_option("--presence-penalty", o.presence_penalty, "OpenAI presence penalty, in [-2, 2]");
  sub->add_option("--frequency-penalty", o.frequency_penalty, "OpenAI frequency penalty, in [-2, 2]");
  sub->add_option("--seed", o.seed, "Sampling seed (same seed, same output)");
  sub->add_option("--no-repeat-ngram-size", o.no_repeat_ngram_size,
                  "No n-gram of this size occurs twice in prompt + output (HF no_repeat_ngram_size; 0 = off)");
}

}  // namespace

void add_generation_flags(CLI::App* sub, ipfs_accelerate::GenerateOptions& o, const std::string& stop_help) {
  sub->add_option("-n,--max-new-tokens", o.max_new_tokens,
                  "Tokens to generate at most (default: generation_config.json, else 256)");
  add_sampling_flags(sub, o);
  sub->add_option("--stop", o.stop, stop_help);
  sub->add_option("--device", o.device, "auto | cpu")->capture_default_str();
  sub->add_option("--dtype", o.dtype,
                  "Linear weight dtype: auto (the checkpoint's config.json dtype; float16 runs as bf16) | f32 | bf16")
      ->capture_default_str();
  sub->add_option("--quantize", o.quantize,
                  "Pack weights at load: int8 | q4 | q4_128 | q4z | q4z_128 | none (CPU; docs/quantization.md)");
  sub->add_option("--kv-cache-dtype", o.kv_cache_dtype,
                  "What the KV cache keeps K/V as: auto (f32) | f32 | int8 (CPU; about 1/4 the bytes of f32 per "
                  "token, docs/quantization.md#kv-cache)")
      ->capture_default_str();
}

}  // namespace ia::cli
