#include "providers/http_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include <fmt/format.h>

#include "providers/curl_handle_pool.h"

namespace ia::providers {

namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxErrorBody = 64 * 1024;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  return std::string(s);
}

struct Transfer {
  CURL* curl = nullptr;
  HttpResponse* res = nullptr;
  const BodySink* sink = nullptr;
  size_t max_body = 0;
  size_t header_bytes = 0;
  const HttpTimeouts* timeouts = nullptr;
  Clock::time_point started, last_byte;
  bool got_byte = false;
  TransportFailure abort_reason = TransportFailure::None;
  const std::string* upload = nullptr;
  size_t upload_pos = 0;
};

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const size_t len = size * n;
  t->got_byte = true;
  t->last_byte = Clock::now();
  t->header_bytes += len;
  if (t->header_bytes > kMaxHeaderBytes) {
    t->abort_reason = TransportFailure::TooLarge;
    return 0;
  }
  const std::string_view line(p, len);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue): start over
    t->res->headers.clear();
    return len;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos)
    t->res->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return len;
}

size_t on_data(char* p, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const size_t len = size * n;
  t->got_byte = true;
  t->last_byte = Clock::now();
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  t->res->status = status;
  const bool ok = status >= 200 && status < 300;
  if (!ok) {
    std::string& body = t->res->body;
    body.append(p, std::min(len, kMaxErrorBody - std::min(kMaxErrorBody, body.size())));
    return len;
  }
  if (t->sink && *t->sink) {
    if (!(*t->sink)(*t->res, std::string_view(p, len))) {
      t->abort_reason = TransportFailure::Aborted;
      return 0;
    }
    return len;
  }
  if (t->res->body.size() + len > t->max_body) {
    t->abort_reason = TransportFailure::TooLarge;
    return 0;
  }
  t->res->body.append(p, len);
  return len;
}

size_t on_read(char* buf, size_t size, size_t n, void* ud) {
  auto* t = static_cast<Transfer*>(ud);
  const size_t left = t->upload->size() - t->upload_pos;
  const size_t k = std::min(left, size * n);
  std::copy_n(t->upload->data() + t->upload_pos, k, buf);
  t->upload_pos += k;
  return k;
}

// Called by libcurl about once a second (more often while data flows): the first-byte and
// idle timeouts, which curl has no option for.
int on_progress(void* ud, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(ud);
  const auto now = Clock::now();
  if (!t->got_byte) {
    if (now - t->started > t->timeouts->first_byte + t->timeouts->connect) {
      t->abort_reason = TransportFailure::FirstByteTimeout;
      return 1;
    }
  } else if (now - t->last_byte > t->timeouts->idle) {
    t->abort_reason = TransportFailure::IdleTimeout;
    return 1;
  }
  return 0;
}

double secs(std::chrono::milliseconds d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

HttpOutcome http_send(const HttpRequest& req, const HttpTimeouts& timeouts, const BodySink& sink, size_t max_body) {
  // A handle last used for this origin, with its connection still open (curl_handle_pool.h).
  const CurlHandlePool::Lease lease = CurlHandlePool::instance().acquire(req.url);
  CURL* c = lease.get();
  HttpOutcome out;
  if (!c) {
    out.failure = TransportFailure::Other;
    out.error = "curl_easy_init failed";
    return out;
  }
  Transfer t;
  t.curl = c;
  t.res = &out.response;
  t.sink = &sink;
  t.max_body = max_body;
  t.timeouts = &timeouts;
  t.started = t.last_byte = Clock::now();
  t.upload = &req.body;

  curl_slist* list = nullptr;
  for (const auto& [name, value] : req.headers) list = curl_slist_append(list, (name + ": " + value).c_str());
  // curl would add "Expect: 100-continue" to larger uploads: a round trip lost, and some servers mishandle it.
  list = curl_slist_append(list, "Expect:");
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "ipfs-accelerate/0.1.0");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeouts.connect.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeouts.total.count()));
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else if (req.method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    if (!req.body.empty()) {
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    }
  }
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.response.status);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(list);

  if (t.abort_reason != TransportFailure::None) {
    out.failure = t.abort_reason;
    switch (t.abort_reason) {
      case TransportFailure::FirstByteTimeout:
        out.error = fmt::format("no answer within {:g} s", secs(timeouts.first_byte));
        break;
      case TransportFailure::IdleTimeout:
        out.error = fmt::format("the answer stalled for {:g} s", secs(timeouts.idle));
        break;
      case TransportFailure::TooLarge: out.error = "the answer is larger than allowed"; break;
      default: out.error = "transfer aborted"; break;
    }
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    out.failure = out.response.status == 0 && !t.got_byte ? TransportFailure::Connect : TransportFailure::TotalTimeout;
    out.error = out.failure == TransportFailure::Connect
                    ? fmt::format("could not connect within {:g} s", secs(timeouts.connect))
                    : fmt::format("the exchange took longer than {:g} s", secs(timeouts.total));
  } else if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_SSL_CONNECT_ERROR) {
    out.failure = TransportFailure::Connect;
    out.error = curl_easy_strerror(rc);
  } else if (rc != CURLE_OK) {
    out.failure = TransportFailure::Other;
    out.error = curl_easy_strerror(rc);
  }
  return out;
}

std::string percent_encode(std::string_view s, bool keep_slash) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace ia::providers
