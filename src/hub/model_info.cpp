#include "hub/model_info.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/bounded_json.h"
#include "core/error.h"
#include "hub/repo_ref.h"

namespace ia::hub {

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_sha256_hex(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::optional<uint64_t> size_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

// A sentence-transformers module folder: "1_Pooling", "2_Dense", "3_Normalize".
bool is_module_dir(std::string_view d) {
  size_t i = 0;
  while (i < d.size() && d[i] >= '0' && d[i] <= '9') ++i;
  if (i == 0 || i + 1 >= d.size() || d[i] != '_') return false;
  for (++i; i < d.size(); ++i)
    if (!std::isalnum(static_cast<unsigned char>(d[i])) && d[i] != '_') return false;
  return true;
}

// Configs, tokenizers and vocabularies: what transformers and sentence-transformers
// read beside the weights (config.json, generation_config.json, tokenizer.json,
// tokenizer_config.json, special_tokens_map.json, added_tokens.json, vocab.txt,
// vocab.json, merges.txt, *.model sentencepiece files, chat_template.jinja,
// preprocessor_config.json, modules.json, sentence_bert_config.json, ...).
bool is_small_file(std::string_view file) {
  for (std::string_view ext : {".json", ".txt", ".model", ".jinja", ".tiktoken"})
    if (ends_with(file, ext)) return true;
  return false;
}

bool is_other_weight_format(std::string_view file) {
  for (std::string_view ext : {".bin", ".h5", ".msgpack", ".onnx", ".onnx_data", ".gguf", ".ot", ".pt", ".pth", ".ckpt",
                               ".tflite", ".mlmodel", ".pb", ".npz", ".nemo"})
    if (ends_with(file, ext)) return true;
  return false;
}

[[noreturn]] void corrupt(const std::string& source, const std::string& why) {
  fail(ErrorKind::Corrupt, "{}: {}", source, why);
}

}  // namespace

bool RepoFile::weights() const {
  return ends_with(name, ".safetensors");
}

ModelInfo parse_model_info(std::string_view json, const std::string& source) {
  JsonLimits limits;
  limits.max_bytes = kMaxModelInfoBytes;
  limits.max_depth = 32;
  const nlohmann::json j = parse_json_bounded(json, source, limits);
  if (!j.is_object()) corrupt(source, "expected a JSON object");
  ModelInfo info;
  auto sha = j.find("sha");
  if (sha == j.end() || !sha->is_string() || !is_commit_hash(sha->get<std::string>()))
    corrupt(source, "no commit hash (\"sha\": 40 hexadecimal digits)");
  info.sha = sha->get<std::string>();
  auto siblings = j.find("siblings");
  if (siblings == j.end() || !siblings->is_array()) corrupt(source, "no \"siblings\" list");
  if (siblings->size() > kMaxRepoFiles) corrupt(source, fmt::format("more than {} files", kMaxRepoFiles));
  std::set<std::string> seen;
  for (const nlohmann::json& s : *siblings) {
    auto name = s.is_object() ? s.find("rfilename") : s.end();
    if (!s.is_object() || name == s.end() || !name->is_string()) corrupt(source, "a sibling without \"rfilename\"");
    RepoFile f;
    f.name = name->get<std::string>();
    if (!is_safe_repo_filename(f.name)) corrupt(source, fmt::format("unsafe file name \"{}\"", f.name));
    if (!seen.insert(f.name).second) corrupt(source, fmt::format("\"{}\" listed twice", f.name));
    f.size = size_field(s, "size");
    if (auto lfs = s.find("lfs"); lfs != s.end() && lfs->is_object()) {
      if (auto sum = lfs->find("sha256"); sum != lfs->end() && sum->is_string()) {
        f.lfs_sha256 = sum->get<std::string>();
        if (!is_sha256_hex(f.lfs_sha256)) corrupt(source, fmt::format("\"{}\": malformed lfs.sha256", f.name));
      }
      if (auto size = size_field(*lfs, "size")) f.size = size;
    }
    info.files.push_back(std::move(f));
  }
  return info;
}

FileSelection select_files(const ModelInfo& info) {
  FileSelection sel;
  std::vector<RepoFile> root_weights;
  bool has_model_safetensors = false;
  for (const RepoFile& f : info.files) {
    const size_t slash = f.name.find('/');
    const bool root = slash == std::string::npos;
    // Files of a sentence-transformers module folder (one level down) count as the root's.
    const bool module = !root && f.name.find('/', slash + 1) == std::string::npos &&
                        is_module_dir(std::string_view(f.name).substr(0, slash));
    if (!root && !module) continue;
    if (f.weights()) {
      if (module) {
        sel.weights.push_back(f);
      } else {
        root_weights.push_back(f);
        has_model_safetensors |= f.name == "model.safetensors";
      }
    } else if (f.name == "model.safetensors.index.json") {
      sel.index = f;
      sel.first.push_back(f);
    } else if (is_small_file(f.name)) {
      sel.first.push_back(f);
    } else if (is_other_weight_format(f.name) && root) {
      sel.other_formats.push_back(f.name);
    }
  }
  if (!sel.index) {
    for (const RepoFile& f : root_weights)
      if (!has_model_safetensors || f.name == "model.safetensors") sel.weights.push_back(f);
  }
  if (!root_weights.empty() || sel.index) sel.other_formats.clear();
  return sel;
}

std::vector<std::string> index_shards(std::string_view json, const std::string& source) {
  JsonLimits limits;
  limits.max_bytes = kMaxModelInfoBytes;
  limits.max_depth = 16;
  const nlohmann::json j = parse_json_bounded(json, source, limits);
  auto map = j.is_object() ? j.find("weight_map") : j.end();
  if (!j.is_object() || map == j.end() || !map->is_object()) corrupt(source, "no \"weight_map\" object");
  std::set<std::string> shards;
  for (const auto& [tensor, file] : map->items()) {
    if (!file.is_string()) corrupt(source, fmt::format("\"{}\": the shard is not a string", tensor));
    const std::string name = file.get<std::string>();
    if (!is_safe_repo_filename(name) || name.find('/') != std::string::npos || !ends_with(name, ".safetensors"))
      corrupt(source, fmt::format("\"{}\" is not a *.safetensors file of the model's folder", name));
    shards.insert(name);
    if (shards.size() > kMaxRepoFiles) corrupt(source, "too many shards");
  }
  if (shards.empty()) corrupt(source, "an empty \"weight_map\"");
  return {shards.begin(), shards.end()};
}

}  // namespace ia::hub
