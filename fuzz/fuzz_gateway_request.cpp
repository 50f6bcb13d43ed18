// libFuzzer target for the trustless gateway's request handling, as
// gateway_server.cpp does it for one request, without sockets: the input is
// "target\nAccept\nRange\nIf-None-Match" (a missing or empty field: no such header).
// The target is decoded as cpp-httplib does (path and query split at '?', the
// path percent-decoded and routed by /ipfs/(.+), the query parsed into
// parameters), the Range header is parsed by httplib and resolved by
// resolve_ranges, and the query is negotiated and answered against a small
// in-memory blockstore built once by the importer: a raw leaf, a multi-block
// file and a dag-pb folder holding both. In the target and If-None-Match "$R", "$F" and "$D"
// stand for those roots' CIDs, so short inputs reach real blocks.
//
// Invariants: resolved ranges lie within the block, are sorted, disjoint and
// non-adjacent, and cover exactly the bytes the satisfiable entries name; an
// answer's content type is one of the gateway's; headers built from the
// request hold no control characters; a refusal is ia::Error and maps through
// core/error_outcome to a 4xx (the store is sound, so never a 5xx); nothing
// throws anything else.
#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/error_outcome.h"
#include "ipfs/blockstore.h"
#include "ipfs/car_selection.h"
#include "ipfs/gateway_negotiation.h"
#include "ipfs/gateway_ranges.h"
#include "ipfs/gateway_server.h"
#include "ipfs/importer.h"

namespace {

using namespace ia::ipfs;

struct Fixture {
  MemoryBlockstore store;
  std::string raw, file, dir;
};

const Fixture& fixture() {
  static const Fixture* f = [] {
    auto* x = new Fixture;
    ImportOptions v1;
    v1.cid_version = 1;
    BuiltNode leaf = import_bytes("hello", x->store, v1);
    ImportOptions small;
    small.chunk_size = 256;  // four dag-pb leaves under one root
    std::string bytes(1000, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 7 + 3);
    BuiltNode file = import_bytes(bytes, x->store, small);
    BuiltNode sub = build_directory({{"leaf.txt", leaf.cid, leaf.tsize}}, x->store, 0);
    BuiltNode dir = build_directory({{"file.bin", file.cid, file.tsize}, {"sub", sub.cid, sub.tsize}}, x->store, 0);
    x->raw = leaf.cid.to_string();
    x->file = file.cid.to_string();
    x->dir = dir.cid.to_string();
    return x;
  }();
  return *f;
}

void check(bool ok) {
  if (!ok) std::abort();
}

// No CR, LF or other control character: the value goes into a response header.
void check_header_value(std::string_view v) {
  for (char c : v) check(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
}

// A refusal: ia::Error only, mapped as handle() maps it, and always a 4xx.
void check_refusal(bool not_acceptable) {
  const ia::ErrorOutcome outcome = ia::current_error_outcome();
  const int status = not_acceptable ? 406 : ia::http_status(outcome.kind);
  check(outcome.is_user_error());
  check(status >= 400 && status < 500);
  check(!ia::http_error_body(outcome).empty());
}

// Resolved spans against the bytes the entries name, one by one (RFC 9110 §14.1.2).
void check_spans(const std::vector<RangeEntry>& entries, uint64_t size, const std::vector<ByteSpan>& spans) {
  for (size_t i = 0; i < spans.size(); ++i) {
    check(spans[i].first <= spans[i].last && spans[i].last < size);
    if (i > 0) check(spans[i].first > spans[i - 1].last + 1);  // sorted, disjoint, not adjacent
  }
  if (size > 4096) return;
  std::vector<char> want(size, 0), got(size, 0);
  for (const auto& [first, last] : entries) {
    if (first < 0) {
      if (last <= 0) continue;
      for (uint64_t b = size - std::min<uint64_t>(static_cast<uint64_t>(last), size); b < size; ++b) want[b] = 1;
    } else {
      if (last >= 0 && last < first) continue;
      const uint64_t end = last < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(last) + 1, size);
      for (uint64_t b = static_cast<uint64_t>(first); b < end; ++b) want[b] = 1;
    }
  }
  for (const ByteSpan& s : spans)
    for (uint64_t b = s.first; b <= s.last; ++b) got[b] = 1;
  check(want == got);
}

void replace_all(std::string& s, std::string_view from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
}

// respond_raw / respond_ranges of gateway_server.cpp.
void answer_raw(const GatewayQuery& q, const std::optional<std::string>& if_none_match,
                const std::vector<RangeEntry>& ranges) {
  Blockstore& store = const_cast<MemoryBlockstore&>(fixture().store);
  if (!store.has(q.root.hash)) ia::fail(ia::ErrorKind::NotFound, "block {} not found", q.root.to_string());
  const ia::ipfs::Bytes block = load_block(store, q.root);
  if (if_none_match && *if_none_match == q.etag()) return;  // 304
  if (ranges.empty()) return;                               // 200, the whole block
  const GatewayLimits limits;
  if (ranges.size() > limits.max_ranges) return;  // 416
  const std::vector<ByteSpan> spans = resolve_ranges(ranges, block.size());
  check_spans(ranges, block.size(), spans);
  uint64_t total = 0;
  for (const ByteSpan& s : spans) total += s.size();
  check(total <= block.size());  // a multipart body never repeats bytes
}

// respond_car / stream_car: the sequence is built before the status is sent; blocks after it.
void answer_car(const GatewayQuery& q, const std::optional<std::string>& if_none_match) {
  Blockstore& store = const_cast<MemoryBlockstore&>(fixture().store);
  if (!store.has(q.root.hash)) ia::fail(ia::ErrorKind::NotFound, "block {} not found", q.root.to_string());
  CarBlockSequence seq(store, q.root, q.path, q.car);
  if (if_none_match && *if_none_match == q.etag()) return;  // 304
  size_t n = 0;
  while (auto b = seq.next()) {
    check(store.has(b->first.hash));
    check(++n <= 64);  // the fixture holds fewer blocks; dups=y repeats none here either
  }
}

std::optional<std::string> field(std::string_view& in) {
  if (in.data() == nullptr) return std::nullopt;
  const size_t nl = in.find('\n');
  std::string out(in.substr(0, nl));
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& fx = fixture();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.empty()) in = std::string_view("", 0);
  std::string target = field(in).value_or("");
  const std::optional<std::string> accept = field(in), range = field(in);
  std::optional<std::string> if_none_match = field(in);
  if (if_none_match && if_none_match->empty()) if_none_match.reset();
  for (std::string* s : {&target, if_none_match ? &*if_none_match : &target}) {
    replace_all(*s, "$R", fx.raw);
    replace_all(*s, "$F", fx.file);
    replace_all(*s, "$D", fx.dir);
  }

  // What httplib does before routing: split the target, decode it, parse the query and the Range.
  const size_t qmark = target.find('?');
  const std::string path = httplib::detail::decode_url(target.substr(0, qmark), false);
  httplib::Params params;
  if (qmark != std::string::npos) httplib::detail::parse_query_text(target.substr(qmark + 1), params);
  httplib::Ranges ranges;
  if (range && !range->empty() && !httplib::detail::parse_range_header(*range, ranges)) return 0;  // 416 from httplib
  std::vector<RangeEntry> entries(ranges.begin(), ranges.end());

  // resolve_ranges alone, on every entry (the server refuses more than max_ranges first).
  if (entries.size() <= 4096) {
    for (uint64_t block_size : {uint64_t{0}, uint64_t{1}, uint64_t{5}, uint64_t{1000}, uint64_t{1} << 62}) {
      const std::vector<ByteSpan> spans = resolve_ranges(entries, block_size);
      check_spans(entries, block_size, spans);
    }
  }

  static const std::regex route(R"(/ipfs/(.+))");
  std::smatch m;
  if (!std::regex_match(path, m, route)) return 0;  // 404 from httplib

  const QueryParam param = [&params](const char* name) -> std::optional<std::string> {
    auto [it, end] = params.equal_range(name);
    if (it == end) return std::nullopt;
    return it->second;  // httplib's get_param_value: the first written
  };
  std::optional<GatewayQuery> q;
  try {
    q = negotiate_gateway_query(m[1].str(), accept.value_or(""), param);
  } catch (const NotAcceptable&) {
    check_refusal(true);
    return 0;
  } catch (const ia::Error&) {
    check_refusal(false);
    return 0;
  } catch (...) {
    std::abort();
  }

  // What the answer's headers say.
  check(q->format == GatewayFormat::Raw || q->format == GatewayFormat::Car);
  check(q->from_accept == !param("format"));
  check(q->path.empty() || q->path.back() != '/');
  if (q->format == GatewayFormat::Raw) check(q->path.empty());
  const std::string etag = q->etag();
  check(etag.size() >= 2 && etag.front() == '"' && etag.back() == '"');
  check(etag.find('"', 1) == etag.size() - 1);
  check_header_value(etag);
  check_header_value(q->root_text);
  check(q->ipfs_path().starts_with("/ipfs/" + q->root_text));
  const std::string content_type =
      q->format == GatewayFormat::Raw
          ? "application/vnd.ipld.raw"
          : std::string("application/vnd.ipld.car; version=1; order=dfs; dups=") + (q->car.dups ? "y" : "n");
  check(content_type.starts_with("application/vnd.ipld.raw") || content_type.starts_with("application/vnd.ipld.car"));

  try {
    if (q->format == GatewayFormat::Raw)
      answer_raw(*q, if_none_match, entries);
    else
      answer_car(*q, if_none_match);
  } catch (const ia::Error&) {
    check_refusal(false);
  } catch (...) {
    std::abort();
  }
  return 0;
}
