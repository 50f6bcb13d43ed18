#include "tokenizers/post_processors.h"

#include <map>
#include <string>
#include <vector>

#include "tokenizers/byte_level.h"
#include "tokenizers/json_util.h"
#include "tokenizers/unicode.h"

namespace ia::tok {

Encoding merge_encodings(std::vector<Encoding>&& encodings) {
  if (encodings.empty()) return {};
  Encoding out = std::move(encodings[0]);
  for (size_t i = 1; i < encodings.size(); ++i) {
    Encoding& e = encodings[i];
    auto app = [](auto& dst, auto& src) {
      dst.insert(dst.end(), std::make_move_iterator(src.begin()), std::make_move_iterator(src.end()));
    };
    app(out.ids, e.ids);
    app(out.type_ids, e.type_ids);
    app(out.special_tokens_mask, e.special_tokens_mask);
    app(out.attention_mask, e.attention_mask);
    app(out.tokens, e.tokens);
    app(out.offsets, e.offsets);
  }
  return out;
}

void trim_byte_level_offsets(Encoding& e, bool add_prefix_space) {
  const char32_t space = bytes_to_unicode()[' '];
  auto is_space = [&](char32_t c) { return c == space || uni::is_whitespace(c); };
  for (size_t i = 0; i < e.tokens.size(); ++i) {
    const std::string& t = e.tokens[i];
    std::vector<char32_t> cps;
    for (size_t k = 0; k < t.size();) {
      size_t len = 1;
      cps.push_back(uni::decode(t, k, &len));
      k += len;
    }
    size_t lead = 0, trail = 0;
    while (lead < cps.size() && is_space(cps[lead])) ++lead;
    while (trail < cps.size() && is_space(cps[cps.size() - 1 - trail])) ++trail;
    auto& off = e.offsets[i];
    if (lead > 0) {
      // A single leading space we added ourselves on the first token stays.
      const bool is_first = i == 0 || off.first == 0;
      if (is_first && add_prefix_space && lead == 1) lead = 0;
      off.first = std::min(off.first + lead, off.second);
    }
    if (trail > 0 && off.second >= trail) off.second = std::max(off.second - trail, off.first);
  }
}

namespace {

void push_special(Encoding& e, int32_t id, const std::string& tok, int32_t type_id) {
  e.ids.push_back(id);
  e.tokens.push_back(tok);
  e.offsets.emplace_back(0, 0);
  e.type_ids.push_back(type_id);
  e.special_tokens_mask.push_back(1);
  e.attention_mask.push_back(1);
}

void append(Encoding& dst, const Encoding& src, std::optional<int32_t> type_id) {
  dst.ids.insert(dst.ids.end(), src.ids.begin(), src.ids.end());
  dst.tokens.insert(dst.tokens.end(), src.tokens.begin(), src.tokens.end());
  dst.offsets.insert(dst.offsets.end(), src.offsets.begin(), src.offsets.end());
  if (type_id) {
    dst.type_ids.insert(dst.type_ids.end(), src.ids.size(), *type_id);
  } else {
    dst.type_ids.insert(dst.type_ids.end(), src.type_ids.begin(), src.type_ids.end());
  }
  dst.special_tokens_mask.insert(dst.special_tokens_mask.end(), src.special_tokens_mask.begin(),
                                 src.special_tokens_mask.end());
  dst.attention_mask.insert(dst.attention_mask.end(), src.attention_mask.begin(), src.attention_mask.end());
}

std::pair<std::string, int32_t> token_pair(const nlohmann::json& j, const char* key, const std::string& what) {
  const auto& v = js::field(j, key, what);
  if (!v.is_array() || v.size() != 2 || !v[0].is_string()) {
    fail(ErrorKind::Corrupt, "{}: field '{}' must be [token, id]", what, key);
  }
  return {v[0].get<std::string>(), js::token_id(v[1], what, key)};
}

class TemplateProcessing final : public PostProcessor {
 public:
  explicit TemplateProcessing(const nlohmann::json& j) {
    const std::string what = "post_processor TemplateProcessing";
    if (const auto* st = js::opt(j, "special_tokens")) {
      if (!st->is_object()) fail(ErrorKind::Corrupt, "{}: 'special_tokens' must be an object", what);
      for (const auto& [name, v] : st->items()) {
        Special s;
        for (const auto& id : js::array(v, "ids", what)) s.ids.push_back(js::token_id(id, what, "ids"));
        for (const auto& t : js::array(v, "tokens", what)) {
          if (!t.is_string()) fail(ErrorKind::Corrupt, "{}: special token '{}' tokens must be strings", what, name);
          s.tokens.push_back(t.get<std::string>());
        }
        if (s.ids.size() != s.tokens.size()) {
          fail(ErrorKind::Corrupt, "{}: special token '{}' has {} ids but {} tokens", what, name, s.ids.size(),
               s.tokens.size());
        }
        specials_[name] = std::move(s);
      }
    }
    single_ = parse_template(js::field(j, "single", what), what);
    pair_ = parse_template(js::field(j, "pair", what), what);
  }

  void process(std::vector<Encoding>& encs, bool add_special_tokens) const override {
    const auto& tmpl = encs.size() > 1 ? pair_ : single_;
    Encoding out;
    for (const auto& p : tmpl) {
      if (p.is_sequence) {
        const size_t idx = p.seq_b ? 1 : 0;
        if (idx < encs.size()) append(out, encs[idx], p.type_id);
      } else if (add_special_tokens) {
        const auto& s = specials_.at(p.name);  // validated at load
        for (size_t k = 0; k < s.ids.size(); ++k) push_special(out, s.ids[k], s.tokens[k], p.type_id);
      }
    }
    encs.clear();
    encs.push_back(std::move(out));
  }

 private:
  struct Piece {
    bool is_sequence = false;
    bool seq_b = false;
    std::string name;
    int32_t type_id = 0;
  };
  struct Special {
    std::vector<int32_t> ids;
    std::vector<std::string> tokens;
  };

  std::vector<Piece> parse_template(const nlohmann::json& arr, const std::string& what) const {
    if (!arr.is_array()) fail(ErrorKind::Corrupt, "{}: template must be an array", what);
    std::vector<Piece> out;
    for (const auto& item : arr) {
      Piece p;
      if (item.is_string()) {
        // Compact form: "$A", "$B:1", "[CLS]", "[SEP]:1".
        std::string s = item.get<std::string>();
        if (auto colon = s.rfind(':'); colon != std::string::npos && colon + 1 < s.size()) {
          const std::string num = s.substr(colon + 1);
          if (num.find_first_not_of("0123456789") == std::string::npos && num.size() < 9) {
            p.type_id = std::stoi(num);
            s = s.substr(0, colon);
          }
        }
        if (!s.empty() && s[0] == '$') {
          p.is_sequence = true;
          const std::string id = s.substr(1);
          if (id == "B" || id == "1") {
            p.seq_b = true;
          } else if (!(id.empty() || id == "A" || id == "0")) {
            fail(ErrorKind::Corrupt, "{}: unknown sequence '{}'", what, s);
          }
        } else {
          p.name = s;
        }
      } else if (const auto* seq = js::opt(item, "Sequence")) {
        p.is_sequence = true;
        const std::string id = js::str(*seq, "id", what);
        if (id != "A" && id != "B") fail(ErrorKind::Corrupt, "{}: sequence id must be A or B, got '{}'", what, id);
        p.seq_b = id == "B";
        p.type_id = js::token_id(js::field(*seq, "type_id", what), what, "type_id");
      } else if (const auto* sp = js::opt(item, "SpecialToken")) {
        p.name = js::str(*sp, "id", what);
        p.type_id = js::token_id(js::field(*sp, "type_id", what), what, "type_id");
      } else {
        fail(ErrorKind::Corrupt, "{}: template piece must be Sequence or SpecialToken", what);
      }
      if (!p.is_sequence && !specials_.count(p.name)) {
        fail(ErrorKind::Corrupt, "{}: special token '{}' used in template but missing from special_tokens", what,
             p.name);
      }
      out.push_back(std::move(p));
    }
    return out;
  }

  std::map<std::string, Special> specials_;
  std::vector<Piece> single_, pair_;
};

class BertProcessing final : public PostProcessor {
 public:
  explicit BertProcessing(const nlohmann::json& j) {
    sep_ = token_pair(j, "sep", "post_processor BertProcessing");
    cls_ = token_pair(j, "cls", "post_processor BertProcessing");
  }
  void process(std::vector<Encoding>& encs, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    Encoding out;
    push_special(out, cls_.second, cls_.first, 0);
    append(out, encs[0], 0);
    push_special(out, sep_.second, sep_.first, 0);
    if (encs.size() > 1) {
      append(out, encs[1], 1);
      push_special(out, sep_.second, sep_.first, 1);
    }
    encs.clear();
    encs.push_back(std::move(out));
  }

 private:
  std::pair<std::string, int32_t> sep_, cls_;
};

class RobertaProcessing final : public PostProcessor {
 public:
  explicit RobertaProcessing(const nlohmann::json& j) {
    const std::string what = "post_processor RobertaProcessing";
    sep_ = token_pair(j, "sep", what);
    cls_ = token_pair(j, "cls", what);
    trim_offsets_ = js::boolean_or(j, "trim_offsets", what, true);
    add_prefix_space_ = js::boolean_or(j, "add_prefix_space", what, true);
  }
  void process(std::vector<Encoding>& encs, bool add_special_tokens) const override {
    for (auto& e : encs) {
      if (trim_offsets_) trim_byte_level_offsets(e, add_prefix_space_);
      e.type_ids.assign(e.ids.size(), 0);  // RoBERTa uses type id 0 everywhere
    }
    if (!add_special_tokens) return;
    Encoding out;
    push_special(out, cls_.second, cls_.first, 0);
    append(out, encs[0], 0);
    push_special(out, sep_.second, sep_.first, 0);
    if (encs.size() > 1) {
      push_special(out, sep_.second, sep_.first, 0);
      append(out, encs[1], 0);
      push_special(out, sep_.second, sep_.first, 0);
    }
    encs.clear();
    encs.push_back(std::move(out));
  }

 private:
  std::pair<std::string, int32_t> sep_, cls_;
  bool trim_offsets_ = true, add_prefix_space_ = true;
};

class ByteLevelProcessing final : public PostProcessor {
 public:
  explicit ByteLevelProcessing(const nlohmann::json& j) {
    trim_offsets_ = js::boolean_or(j, "trim_offsets", "post_processor ByteLevel", true);
    add_prefix_space_ = js::boolean_or(j, "add_prefix_space", "post_processor ByteLevel", true);
  }
  void process(std::vector<Encoding>& encs, bool) const override {
    if (!trim_offsets_) return;
    for (auto& e : encs) trim_byte_level_offsets(e, add_prefix_space_);
  }

 private:
  bool trim_offsets_ = true, add_prefix_space_ = true;
};

class SequenceProcessing final : public PostProcessor {
 public:
  explicit SequenceProcessing(const nlohmann::json& j) {
    for (const auto& p : js::array(j, "processors", "post_processor Sequence")) {
      if (auto q = make_post_processor(p)) parts_.push_back(std::move(q));
    }
  }
  void process(std::vector<Encoding>& encs, bool add_special_tokens) const override {
    for (const auto& p : parts_) p->process(encs, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = js::type_of(j, "post_processor");
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessing>(j);
  if (type == "BertProcessing") return std::make_unique<BertProcessing>(j);
  if (type == "RobertaProcessing") return std::make_unique<RobertaProcessing>(j);
  if (type == "ByteLevel") return std::make_unique<ByteLevelProcessing>(j);
  if (type == "Sequence") return std::make_unique<SequenceProcessing>(j);
  fail(ErrorKind::Unsupported, "post_processor: type '{}' is not supported", type);
}

}  // namespace ia::tok
