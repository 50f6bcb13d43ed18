#include "cli/cli_common.h"

#include <fmt/format.h>

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
}

}  // namespace

void add_generation_flags(CLI::App* sub, ipfs_accelerate::GenerateOptions& o, const std::string& stop_help) {
  sub->add_option("--max-new-tokens", o.max_new_tokens,
                  "Tokens to generate at most (default: generation_config.json, else 256)");
  add_sampling_flags(sub, o);
  sub->add_option("--stop", o.stop, stop_help);
  sub->add_option("--device", o.device, "auto | cpu")->capture_default_str();
  sub->add_option("--dtype", o.dtype,
                  "Linear weight dtype: auto (the checkpoint's config.json dtype; float16 runs as bf16) | f32 | bf16")
      ->capture_default_str();
}

}  // namespace ia::cli
