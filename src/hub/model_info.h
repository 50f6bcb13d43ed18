#pragma once
// What the hub says a model revision holds, and which of its files the runtime
// needs. Both parsers read what a server sent and are bounded (size, depth,
// entry count); every name they return passed is_safe_repo_filename.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ia::hub {

// Bounds on what the hub's answers may make us do.
inline constexpr size_t kMaxModelInfoBytes = 32u << 20;      // the API's JSON
inline constexpr size_t kMaxRepoFiles = 100000;              // siblings listed
inline constexpr uint64_t kMaxSmallFileBytes = 1ull << 30;   // configs, tokenizers, vocabularies
inline constexpr uint64_t kMaxWeightFileBytes = 1ull << 40;  // one *.safetensors file

struct RepoFile {
  std::string name;              // rfilename: the path in the repository
  std::optional<uint64_t> size;  // with ?blobs=true: the file's size (the LFS object's for LFS files)
  std::string lfs_sha256;        // with ?blobs=true, for LFS files
  bool weights() const;          // a *.safetensors file
};

struct ModelInfo {
  std::string sha;  // the commit the revision resolved to
  std::vector<RepoFile> files;
};

// GET {endpoint}/api/models/{repo}/revision/{rev}[?blobs=true]: {"sha": "<40 hex>",
// "siblings": [{"rfilename": ..., "size": ..., "lfs": {"sha256": ..., "size": ...}}, ...]}.
// Corrupt (starting with `source`) when it is not such an object, the sha is not
// a commit hash, a name is unsafe or repeated, or a bound is passed.
ModelInfo parse_model_info(std::string_view json, const std::string& source);

// The files of a revision the runtime loads, in two stages: `first` are the
// configs, tokenizer files, vocabularies, sentence-transformers module configs
// and the safetensors index; `weights` the *.safetensors files to fetch when
// there is no index (model.safetensors, else every root *.safetensors), plus
// those of sentence-transformers modules (2_Dense/model.safetensors). With an
// index, the shards come from index_shards() once it is here. Other weight
// formats (*.bin, *.h5, *.onnx, *.gguf, ...) are never selected; `other_formats`
// names them when the revision has no safetensors weights at all.
struct FileSelection {
  std::vector<RepoFile> first;
  std::vector<RepoFile> weights;
  std::optional<RepoFile> index;  // model.safetensors.index.json (also in `first`)
  std::vector<std::string> other_formats;
};
FileSelection select_files(const ModelInfo& info);

// The shard files a safetensors index's "weight_map" names, each once, sorted.
// Corrupt (starting with `source`) when it is not such an index or a name is unsafe.
std::vector<std::string> index_shards(std::string_view json, const std::string& source);

}  // namespace ia::hub
