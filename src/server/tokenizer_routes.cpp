// POST /tokenize and /detokenize (vLLM's shapes), TEI's /tokenize and /decode.
// One path serves both /tokenize shapes: a body with "inputs" is TEI's, one
// with "prompt" or "messages" vLLM's (neither API uses the other's field).
#include <fmt/format.h>

#include "router/result_json.h"
#include "server/api_error.h"
#include "server/route_handler.h"
#include "server/routes.h"

namespace ia::server {

namespace {

using nlohmann::json;

void vllm_tokenize(ServerState& s, const std::string& body, httplib::Response& res) {
  const TokenizeRequest r = parse_tokenize_request(body, s.limits);
  const ServedLease lease = s.model_for(r.model, ModelUse::Tokenization);
  ServedModel& m = *lease;
  std::string text;
  if (r.messages) {
    if (!m.chat_template) throw invalid_field("messages", "model `" + m.name + "` has no chat template");
    tok::ChatRenderOptions render;
    render.add_generation_prompt = r.add_generation_prompt;
    text = m.chat_template->render(*r.messages, render);
  } else {
    text = *r.prompt;
  }
  const tok::Encoding e = m.tokenizer().encode(text, r.add_special_tokens);
  json out{{"count", e.ids.size()}, {"max_model_len", m.max_model_len}, {"tokens", e.ids}, {"token_strs", nullptr}};
  send_json(res, router::dump_json(out));
}

void tei_tokenize(ServerState& s, const std::string& body, httplib::Response& res) {
  const TeiTokenizeRequest r = parse_tei_tokenize_request(body, s.limits);
  const ServedLease lease = s.model_for(r.model, ModelUse::Tokenization);
  ServedModel& m = *lease;
  const std::vector<tok::Encoding> encs = m.tokenizer().encode_batch(r.inputs.texts, r.add_special_tokens);
  json out = json::array();
  for (const tok::Encoding& e : encs) {
    json tokens = json::array();
    for (size_t i = 0; i < e.ids.size(); ++i) {
      const bool special = i < e.special_tokens_mask.size() && e.special_tokens_mask[i] != 0;
      const auto [start, stop] = i < e.offsets.size() ? e.offsets[i] : std::pair<size_t, size_t>{0, 0};
      tokens.push_back(json{{"id", e.ids[i]},
                            {"text", i < e.tokens.size() ? e.tokens[i] : std::string()},
                            {"special", special},
                            {"start", special ? json(nullptr) : json(start)},
                            {"stop", special ? json(nullptr) : json(stop)}});
    }
    out.push_back(std::move(tokens));
  }
  send_json(res, router::dump_json(out));
}

void check_vocabulary(const ServedModel& m, const std::vector<int32_t>& ids, const std::string& param) {
  const size_t vocab = m.tokenizer().vocab_size();
  for (int32_t id : ids)
    if (static_cast<size_t>(id) >= vocab)
      throw invalid_field(param, fmt::format("token id {} is outside the vocabulary of {}", id, vocab));
}

void detokenize(ServerState& s, const std::string& body, httplib::Response& res) {
  const DetokenizeRequest r = parse_detokenize_request(body, s.limits);
  const ServedLease lease = s.model_for(r.model, ModelUse::Tokenization);
  ServedModel& m = *lease;
  check_vocabulary(m, r.ids, "tokens");
  send_json(res, router::dump_json(json{{"prompt", m.tokenizer().decode(r.ids, /*skip_special_tokens=*/false)}}));
}

void tei_decode(ServerState& s, const std::string& body, httplib::Response& res) {
  const TeiDecodeRequest r = parse_tei_decode_request(body, s.limits);
  const ServedLease lease = s.model_for(r.model, ModelUse::Tokenization);
  ServedModel& m = *lease;
  json out = json::array();
  for (size_t i = 0; i < r.id_lists.size(); ++i) {
    check_vocabulary(m, r.id_lists[i], r.batch ? fmt::format("ids[{}]", i) : "ids");
    out.push_back(m.tokenizer().decode(r.id_lists[i], r.skip_special_tokens));
  }
  send_json(res, router::dump_json(out));
}

}  // namespace

void add_tokenizer_routes(httplib::Server& http, ServerState& state) {
  add_post_route(
      http, state, "/tokenize",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        if (is_tei_tokenize_body(body))
          tei_tokenize(state, body, res);
        else
          vllm_tokenize(state, body, res);
      },
      RouteOptions{.tei_errors = [](const std::string& body) { return is_tei_tokenize_body(body); }});
  add_post_route(http, state, "/detokenize",
                 [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
                   detokenize(state, body, res);
                 });
  add_post_route(
      http, state, "/decode",
      [&state](const httplib::Request&, httplib::Response& res, const std::string& body) {
        tei_decode(state, body, res);
      },
      RouteOptions{.tei_errors = [](const std::string&) { return true; }});
}

}  // namespace ia::server
