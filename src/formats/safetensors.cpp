#include "formats/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/bounded_json.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/thread_pool.h"
#include "formats/checkpoint_quantization.h"
#include "formats/json_messages.h"

namespace ia {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct StDTypeEntry {
  const char* name;
  unsigned bits;               // element size in bits
  std::optional<DType> dtype;  // nullopt: valid in the spec, no ia::DType
};

// Every dtype of the safetensors spec.
const StDTypeEntry kStDTypes[] = {
    {"F64", 64, DType::F64},      {"F32", 32, DType::F32},   {"F16", 16, DType::F16},      {"BF16", 16, DType::BF16},
    {"I64", 64, DType::I64},      {"I32", 32, DType::I32},   {"I16", 16, DType::I16},      {"I8", 8, DType::I8},
    {"U8", 8, DType::U8},         {"BOOL", 8, DType::Bool},  {"F8_E4M3", 8, std::nullopt}, {"F8_E5M2", 8, std::nullopt},
    {"F8_E8M0", 8, std::nullopt}, {"U16", 16, std::nullopt}, {"U32", 32, std::nullopt},    {"U64", 64, std::nullopt},
    {"C64", 64, std::nullopt},    {"F4", 4, std::nullopt},   {"F6_E2M3", 6, std::nullopt}, {"F6_E3M2", 6, std::nullopt},
};

const StDTypeEntry* find_st_dtype(const std::string& s) {
  for (const auto& e : kStDTypes) {
    if (s == e.name) return &e;
  }
  return nullptr;
}

const char* type_word(const json& j) {
  return j.type_name();
}

}  // namespace

const char* safetensors_dtype_name(DType t) {
  switch (t) {
    case DType::F64: return "F64";
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
    case DType::I32: return "I32";
    case DType::I16: return "I16";
    case DType::I8: return "I8";
    case DType::U8: return "U8";
    case DType::Bool: return "BOOL";
    case DType::Q8:
    case DType::Q4G32:
    case DType::Q4G128:
    case DType::Q4ZG32:
    case DType::Q4ZG128:
    case DType::Q8Kv: return "U8";  // packed bytes (core/quantization.h)
  }
  return "?";
}

// ---------------------------------------------------------------------------
// Header parsing and validation.

SafetensorsHeader SafetensorsFile::parse_header(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 8) {
    fail(ErrorKind::Corrupt, "{}: not a safetensors file: {} bytes, shorter than the 8-byte header length", name, size);
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kSafetensorsMaxHeaderBytes) {
    fail(ErrorKind::Corrupt, "{}: safetensors header length {} is absurdly large (limit {} bytes)", name, n,
         kSafetensorsMaxHeaderBytes);
  }
  if (n > size - 8) {
    fail(ErrorKind::Corrupt, "{}: safetensors header length {} runs past the end of the file ({} bytes)", name, n,
         size);
  }
  // Bounded parse: depth limit and duplicate keys refused in one linear SAX
  // pass (nlohmann's callback parser rescans the parent object after every
  // nested object closes, which made 40,000 tensors take over a minute).
  JsonLimits limits;
  limits.reject_duplicate_keys = true;
  limits.max_bytes = kSafetensorsMaxHeaderBytes;
  json h = parse_json_bounded(std::string_view(reinterpret_cast<const char*>(data + 8), static_cast<size_t>(n)),
                              name + ": safetensors header", limits);
  if (!h.is_object())
    fail(ErrorKind::Corrupt, "{}: safetensors header is a JSON {}, not an object", name, type_word(h));
  if (h.size() > kSafetensorsMaxTensors + 1) {
    fail(ErrorKind::Corrupt, "{}: safetensors header lists {} entries, more than the limit of {} tensors", name,
         h.size(), kSafetensorsMaxTensors);
  }

  SafetensorsHeader out;
  out.data_offset = 8 + static_cast<size_t>(n);
  out.data_size = size - out.data_offset;

  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (key == "__metadata__") {
      if (!v.is_object())
        fail(ErrorKind::Corrupt, "{}: __metadata__ is a JSON {}, not an object of strings", name, type_word(v));
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          fail(ErrorKind::Corrupt, "{}: __metadata__ entry '{}' is a JSON {}, not a string", name, m.key(),
               type_word(m.value()));
        }
        out.metadata.emplace(m.key(), m.value().get<std::string>());
      }
      continue;
    }
    if (!v.is_object())
      fail(ErrorKind::Corrupt, "{}: tensor '{}' is a JSON {}, not an object", name, key, type_word(v));
    TensorInfo ti;
    ti.name = key;
    // Names are printed and matched as C strings downstream; NUL or empty ones are never valid.
    if (key.empty() || key.find('\0') != std::string::npos)
      fail(ErrorKind::Corrupt, "{}: a tensor name is empty or holds a NUL byte", name);

    auto dt = v.find("dtype");
    if (dt == v.end()) fail(ErrorKind::Corrupt, "{}: tensor '{}' has no dtype", name, key);
    if (!dt->is_string())
      fail(ErrorKind::Corrupt, "{}: tensor '{}' dtype is {}, not a string", name, key, brief_json(*dt));
    ti.st_dtype = dt->get<std::string>();
    const StDTypeEntry* de = find_st_dtype(ti.st_dtype);
    if (!de) fail(ErrorKind::Corrupt, "{}: tensor '{}' has unknown dtype '{}'", name, key, ti.st_dtype);
    ti.dtype = de->dtype;

    auto sh = v.find("shape");
    if (sh == v.end()) fail(ErrorKind::Corrupt, "{}: tensor '{}' has no shape", name, key);
    if (!sh->is_array())
      fail(ErrorKind::Corrupt, "{}: tensor '{}' shape is {}, not an array", name, key, brief_json(*sh));
    // Element count, refusing overflow even when another dimension is zero, so
    // that no later product over the shape can overflow.
    uint64_t prod_nonzero = 1;
    bool has_zero = false;
    for (const json& d : *sh) {
      if (!d.is_number_integer()) {
        fail(ErrorKind::Corrupt, "{}: tensor '{}' shape {} holds {}, not an integer", name, key, brief_json(*sh),
             brief_json(d));
      }
      if (d.is_number_unsigned()) {
        uint64_t u = d.get<uint64_t>();
        if (u > static_cast<uint64_t>(INT64_MAX)) {
          fail(ErrorKind::Corrupt, "{}: tensor '{}' shape {} has a dimension too large", name, key, brief_json(*sh));
        }
        ti.shape.push_back(static_cast<int64_t>(u));
      } else {
        int64_t s = d.get<int64_t>();
        if (s < 0)
          fail(ErrorKind::Corrupt, "{}: tensor '{}' shape {} has a negative dimension", name, key, brief_json(*sh));
        ti.shape.push_back(s);
      }
      uint64_t dim = static_cast<uint64_t>(ti.shape.back());
      if (dim == 0) {
        has_zero = true;
        continue;
      }
      if (__builtin_mul_overflow(prod_nonzero, dim, &prod_nonzero) || prod_nonzero > static_cast<uint64_t>(INT64_MAX)) {
        fail(ErrorKind::Corrupt, "{}: tensor '{}' shape {}: the element count overflows", name, key, brief_json(*sh));
      }
    }
    uint64_t numel = has_zero ? 0 : prod_nonzero;
    uint64_t bits = 0;
    if (__builtin_mul_overflow(prod_nonzero, static_cast<uint64_t>(de->bits), &bits)) {
      fail(ErrorKind::Corrupt, "{}: tensor '{}' shape {}: the byte size overflows", name, key, brief_json(*sh));
    }
    if (has_zero) bits = 0;
    if (bits % 8 != 0) {
      fail(ErrorKind::Corrupt, "{}: tensor '{}' of {} {} elements does not fill whole bytes", name, key, numel,
           ti.st_dtype);
    }
    uint64_t want_bytes = bits / 8;

    auto off = v.find("data_offsets");
    if (off == v.end()) fail(ErrorKind::Corrupt, "{}: tensor '{}' has no data_offsets", name, key);
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
      fail(ErrorKind::Corrupt, "{}: tensor '{}' data_offsets is {}, not [begin, end] of two non-negative integers",
           name, key, brief_json(*off));
    }
    uint64_t b = (*off)[0].get<uint64_t>();
    uint64_t e = (*off)[1].get<uint64_t>();
    if (b > e) fail(ErrorKind::Corrupt, "{}: tensor '{}' data_offsets [{}, {}] begin after end", name, key, b, e);
    if (e > out.data_size) {
      fail(ErrorKind::Corrupt, "{}: tensor '{}' data_offsets [{}, {}] end past the data section ({} bytes)", name, key,
           b, e, out.data_size);
    }
    if (e - b != want_bytes) {
      fail(ErrorKind::Corrupt, "{}: tensor '{}' holds {} bytes but {} x {} needs {} bytes", name, key, e - b,
           ti.st_dtype, shape_str(ti.shape), want_bytes);
    }
    ti.begin = static_cast<size_t>(b);
    ti.end = static_cast<size_t>(e);
    ti.file_offset = out.data_offset + ti.begin;
    out.tensors.push_back(std::move(ti));
  }

  // Ranges must not overlap (empty tensors overlap nothing).
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : out.tensors) {
    if (t.end > t.begin) by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo* p = by_offset[i - 1];
    const TensorInfo* c = by_offset[i];
    if (c->begin < p->end) {
      fail(ErrorKind::Corrupt, "{}: tensors '{}' [{}, {}] and '{}' [{}, {}] overlap", name, p->name, p->begin, p->end,
           c->name, c->begin, c->end);
    }
  }
  std::sort(out.tensors.begin(), out.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  return out;
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto f = std::shared_ptr<SafetensorsFile>(new SafetensorsFile());
  f->path_ = path;
  f->file_ = MappedFile::open(path);
  f->header_ = parse_header(f->file_->data(), f->file_->size(), path);
  for (size_t i = 0; i < f->header_.tensors.size(); ++i) f->index_.emplace(f->header_.tensors[i].name, i);
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& t : header_.tensors) out.push_back(t.name);
  return out;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) fail(ErrorKind::NotFound, "{}: no tensor '{}'", path_, name);
  return header_.tensors[it->second];
}

Tensor SafetensorsFile::tensor(const std::string& name) const {
  const TensorInfo& ti = info(name);
  if (!ti.dtype) {
    fail(ErrorKind::Unsupported, "{}: tensor '{}' has dtype {}, which ipfs-accelerate cannot compute with", path_, name,
         ti.st_dtype);
  }
  DType dt = *ti.dtype;
  Shape strides = contiguous_strides(ti.shape);
  const unsigned char* p = file_->data() + ti.file_offset;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(dt) != 0) {
    // The writer did not align the data section: copy rather than hand out misaligned pointers.
    auto st = std::make_shared<HostStorage>(ti.nbytes());
    if (ti.nbytes()) std::memcpy(st->data(), p, ti.nbytes());
    return Tensor(std::move(st), 0, ti.shape, std::move(strides), dt);
  }
  return Tensor(std::make_shared<MappedStorage>(file_, ti.file_offset, ti.nbytes()), 0, ti.shape, std::move(strides),
                dt);
}

// ---------------------------------------------------------------------------
// Conversion.

Tensor convert_float_tensor(const Tensor& t, DType to, const std::string& what) {
  if (t.dtype() == to) return t;
  auto ok = [](DType d) { return d == DType::F32 || d == DType::BF16 || d == DType::F16; };
  if (!ok(to))
    fail(ErrorKind::Unsupported, "{}: cannot convert to {} (compute dtypes are f32, bf16, f16)", what, dtype_name(to));
  if (!ok(t.dtype())) {
    fail(ErrorKind::Unsupported, "{}: stored as {}, which cannot be converted to {}", what, dtype_name(t.dtype()),
         dtype_name(to));
  }
  if (!t.device().is_cpu()) fail(ErrorKind::Internal, "{}: dtype conversion of a device tensor", what);
  Tensor src = t.contiguous();
  Tensor out = Tensor::empty(src.shape(), to);
  const int64_t n = src.numel();
  const DType from = src.dtype();
  const void* s = src.raw();
  void* d = out.raw();
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float v;
      switch (from) {
        case DType::F32: v = static_cast<const float*>(s)[i]; break;
        case DType::BF16: v = bf16_to_f32(static_cast<const uint16_t*>(s)[i]); break;
        default: v = f16_to_f32(static_cast<const uint16_t*>(s)[i]); break;
      }
      switch (to) {
        case DType::F32: static_cast<float*>(d)[i] = v; break;
        case DType::BF16: static_cast<uint16_t*>(d)[i] = f32_to_bf16(v); break;
        default: static_cast<uint16_t*>(d)[i] = f32_to_f16(v); break;
      }
    }
  });
  return out;
}

// ---------------------------------------------------------------------------
// WeightStore.

namespace {

bool is_file(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

}  // namespace

void WeightStore::add_file(std::shared_ptr<SafetensorsFile> f, const std::vector<std::string>* only) {
  size_t idx = files_.size();
  auto add = [&](const TensorInfo& ti) {
    if (!where_.emplace(ti.name, idx).second) return;
    total_bytes_ += ti.nbytes();
    dtype_counts_[ti.st_dtype] += 1;
  };
  if (only) {
    for (const auto& n : *only) add(f->info(n));
  } else {
    for (const auto& ti : f->infos()) add(ti);
  }
  files_.push_back(std::move(f));
}

namespace {

// config.json's quantization_config (a pre-quantized checkpoint), when the folder has a
// readable config.json; one it cannot read is left to the config's own loader to report.
std::shared_ptr<const CheckpointQuantization> folder_checkpoint_quantization(const fs::path& dir) {
  const fs::path config = dir / "config.json";
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return nullptr;
  json j;
  try {
    j = read_json_file(config.string());
  } catch (const Error&) {
    return nullptr;
  }
  if (!j.is_object()) return nullptr;
  return read_checkpoint_quantization(j, config.string());
}

}  // namespace

std::shared_ptr<WeightStore> WeightStore::open(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorKind::NotFound, "{}: no such model folder", dir);
  auto ws = std::shared_ptr<WeightStore>(new WeightStore());
  ws->dir_ = dir;
  const fs::path d(dir);
  const fs::path single = d / "model.safetensors";
  const fs::path index = d / "model.safetensors.index.json";
  ws->checkpoint_quantization_ = folder_checkpoint_quantization(d);
  if (is_file(single)) {
    ws->add_file(SafetensorsFile::open(single.string()), nullptr);
    return ws;
  }
  if (!is_file(index)) {
    if (is_file(d / "pytorch_model.bin") || is_file(d / "pytorch_model.bin.index.json")) {
      fail(ErrorKind::Unsupported,
           "{}: only PyTorch pickle weights (pytorch_model.bin); ipfs-accelerate loads safetensors, convert them first",
           dir);
    }
    fail(ErrorKind::NotFound, "{}: no model.safetensors or model.safetensors.index.json", dir);
  }

  ws->sharded_ = true;
  const std::string ip = index.string();
  json j = read_json_file(ip);
  if (!j.is_object()) fail(ErrorKind::Corrupt, "{}: is a JSON {}, not an object", ip, type_word(j));
  auto wm = j.find("weight_map");
  if (wm == j.end() || !wm->is_object()) fail(ErrorKind::Corrupt, "{}: has no weight_map object", ip);
  std::map<std::string, std::vector<std::string>> by_shard;  // deterministic shard order
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string()) {
      fail(ErrorKind::Corrupt, "{}: weight_map entry '{}' is {}, not a shard file name", ip, it.key(),
           brief_json(it.value()));
    }
    std::string shard = it.value().get<std::string>();
    fs::path sp(shard);
    bool bad = shard.empty() || sp.is_absolute();
    for (const auto& part : sp) bad = bad || part == "..";
    if (bad)
      fail(ErrorKind::Corrupt, "{}: weight_map entry '{}' names shard '{}' outside the folder", ip, it.key(), shard);
    by_shard[shard].push_back(it.key());
  }
  if (by_shard.empty()) fail(ErrorKind::Corrupt, "{}: weight_map is empty", ip);
  for (auto& [shard, names] : by_shard) {
    fs::path sp = d / shard;
    if (!is_file(sp)) {
      fail(ErrorKind::NotFound, "{}: shard '{}' (listed for tensor '{}') is missing", ip, shard, names.front());
    }
    auto f = SafetensorsFile::open(sp.string());
    for (const auto& n : names) {
      if (!f->has(n))
        fail(ErrorKind::Corrupt, "{}: tensor '{}' is listed in shard '{}' but that shard has no such tensor", ip, n,
             shard);
    }
    ws->add_file(std::move(f), &names);
  }
  return ws;
}

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(where_.size());
  for (const auto& [n, i] : where_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

const TensorInfo& WeightStore::info(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    // A hint for the common prefix mismatch ("bert.embeddings..." vs "embeddings...").
    std::string hint;
    for (const auto& [n, i] : where_) {
      bool suffix = n.size() > name.size() && n.compare(n.size() - name.size(), name.size(), name) == 0 &&
                    n[n.size() - name.size() - 1] == '.';
      bool prefix = name.size() > n.size() && name.compare(name.size() - n.size(), n.size(), n) == 0 &&
                    name[name.size() - n.size() - 1] == '.';
      if (suffix || prefix) {
        if (hint.empty() || n < hint) hint = n;
      }
    }
    if (!hint.empty())
      fail(ErrorKind::NotFound, "{}: no tensor '{}' in the model weights (there is '{}')", dir_, name, hint);
    fail(ErrorKind::NotFound, "{}: no tensor '{}' in the model weights", dir_, name);
  }
  return files_[it->second]->info(name);
}

Tensor WeightStore::get(const std::string& name) const {
  info(name);  // NotFound naming the folder
  return files_[where_.at(name)]->tensor(name);
}

Tensor WeightStore::get_as(const std::string& name, DType compute_dtype, const Shape& expected_shape) const {
  const TensorInfo& ti = info(name);
  bool match = ti.shape.size() == expected_shape.size();
  for (size_t i = 0; match && i < ti.shape.size(); ++i)
    match = expected_shape[i] < 0 || expected_shape[i] == ti.shape[i];
  if (!match) {
    fail(ErrorKind::Corrupt, "{}: tensor {} has shape {} but the config implies {}", dir_, name, shape_str(ti.shape),
         shape_str(expected_shape));
  }
  return get_as(name, compute_dtype);
}

Tensor WeightStore::get_as(const std::string& name, DType compute_dtype) const {
  const TensorInfo& ti = info(name);
  Tensor t = convert_float_tensor(get(name), compute_dtype, fmt::format("{}: tensor {}", dir_, name));
  if (read_progress_) read_progress_->advance(ti.nbytes());
  return t;
}

// ---------------------------------------------------------------------------
// Writer.

namespace {

void write_all(int fd, const void* p, size_t n, const std::string& path) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(ErrorKind::Unavailable, "{}: write failed: {}", path, std::strerror(errno));
    }
    c += w;
    n -= static_cast<size_t>(w);
  }
}

std::atomic<uint64_t> g_tmp_counter{0};

}  // namespace

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h["__metadata__"] = std::move(m);
  }
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty()) fail(ErrorKind::InvalidArgument, "{}: a tensor has an empty name", path);
    if (name == "__metadata__") fail(ErrorKind::InvalidArgument, "{}: '__metadata__' cannot name a tensor", path);
    if (!seen.insert(name).second) fail(ErrorKind::InvalidArgument, "{}: tensor '{}' given twice", path, name);
    if (!t.defined()) fail(ErrorKind::InvalidArgument, "{}: tensor '{}' is undefined", path, name);
    if (!t.device().is_cpu())
      fail(ErrorKind::InvalidArgument, "{}: tensor '{}' is on {}, copy it to the host first", path, name,
           t.device().str());
    Tensor c = t.contiguous();
    h[name] = {{"dtype", safetensors_dtype_name(c.dtype())},
               {"shape", c.shape()},
               {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    data.push_back(std::move(c));
  }
  std::string header = h.dump();
  header.append((8 - (header.size() % 8)) % 8, ' ');  // data section 8-byte aligned
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xff);

  fs::path target(path);
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  fs::path tmp =
      parent / fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(), g_tmp_counter.fetch_add(1));
  const std::string ts = tmp.string();
  ProgressTask task(fmt::format("writing {}", target.filename().string()), offset, ProgressUnit::Bytes);
  int fd = ::open(ts.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    fail(errno == ENOENT ? ErrorKind::NotFound : ErrorKind::Unavailable, "{}: cannot create {}: {}", path, ts,
         std::strerror(errno));
  }
  try {
    write_all(fd, len, 8, ts);
    write_all(fd, header.data(), header.size(), ts);
    for (const auto& t : data) {
      if (t.nbytes()) write_all(fd, t.raw(), t.nbytes(), ts);
      task.advance(t.nbytes());
    }
    if (::fsync(fd) != 0) fail(ErrorKind::Unavailable, "{}: fsync failed: {}", ts, std::strerror(errno));
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0) fail(ErrorKind::Unavailable, "{}: close failed: {}", ts, std::strerror(errno));

    // Verify by reading it back.
    {
      auto f = SafetensorsFile::open(ts);
      if (f->size() != data.size())
        fail(ErrorKind::Internal, "{}: wrote {} tensors, read back {}", ts, data.size(), f->size());
      for (size_t i = 0; i < data.size(); ++i) {
        const std::string& name = tensors[i].first;
        const TensorInfo& ti = f->info(name);
        if (ti.shape != data[i].shape() || ti.dtype != data[i].dtype() || ti.nbytes() != data[i].nbytes()) {
          fail(ErrorKind::Internal, "{}: tensor '{}' read back differently", ts, name);
        }
        Tensor back = f->tensor(name);
        if (ti.nbytes() && std::memcmp(back.raw(), data[i].raw(), ti.nbytes()) != 0) {
          fail(ErrorKind::Unavailable, "{}: tensor '{}' bytes differ after writing", ts, name);
        }
      }
      if (f->metadata() != metadata) fail(ErrorKind::Internal, "{}: metadata read back differently", ts);
    }
    if (::rename(ts.c_str(), path.c_str()) != 0) {
      fail(ErrorKind::Unavailable, "{}: cannot rename {} over it: {}", path, ts, std::strerror(errno));
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(ts.c_str());
    throw;
  }
  int dfd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  task.finish();
}

}  // namespace ia
