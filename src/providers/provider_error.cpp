#include "providers/provider_error.h"

#include <nlohmann/json.hpp>

namespace ia::providers {

namespace {

std::string scalar_text(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return std::to_string(j.get<long long>());
  return {};
}

std::string xml_field(const std::string& body, const std::string& tag) {
  const size_t a = body.find("<" + tag + ">");
  if (a == std::string::npos) return {};
  const size_t start = a + tag.size() + 2;
  const size_t b = body.find("</" + tag + ">", start);
  return b == std::string::npos ? std::string() : body.substr(start, b - start);
}

std::string printable_prefix(const std::string& body, size_t n) {
  std::string out;
  for (char c : body.substr(0, n)) out += (static_cast<unsigned char>(c) < 0x20) ? ' ' : c;
  return out;
}

}  // namespace

const char* failure_class_name(FailureClass c) {
  switch (c) {
    case FailureClass::CallerFault: return "caller";
    case FailureClass::KeyFault: return "key";
    case FailureClass::RateLimited: return "rate_limited";
    case FailureClass::Overloaded: return "overloaded";
    case FailureClass::Transient: return "transient";
    case FailureClass::StreamBroken: return "stream";
  }
  return "unknown";
}

bool is_retryable(FailureClass c) {
  return c == FailureClass::RateLimited || c == FailureClass::Overloaded || c == FailureClass::Transient ||
         c == FailureClass::StreamBroken;
}

ErrorKind error_kind_of(FailureClass c, int status) {
  if (c != FailureClass::CallerFault) return ErrorKind::Unavailable;
  return status == 404 ? ErrorKind::NotFound : ErrorKind::InvalidArgument;
}

ProviderError::ProviderError(FailureClass cls, int status, const std::string& message,
                             std::optional<std::chrono::milliseconds> retry_after)
    : Error(error_kind_of(cls, status), message), cls_(cls), status_(status), retry_after_(retry_after) {}

FailureClass classify_status(int status) {
  if (status == 401 || status == 402 || status == 403) return FailureClass::KeyFault;
  if (status == 429) return FailureClass::RateLimited;
  if (status == 408 || status == 409) return FailureClass::Transient;
  if (status >= 500) return FailureClass::Overloaded;
  return FailureClass::CallerFault;
}

ErrorBody parse_error_body(const std::string& body) {
  ErrorBody out;
  out.raw = body;
  if (body.rfind("<?xml", 0) == 0 || body.rfind("<Error>", 0) == 0) {
    out.code = xml_field(body, "Code");
    out.message = xml_field(body, "Message");
    out.type = out.code;
    if (!out.message.empty()) return out;
  }
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    const nlohmann::json* e = &j;
    if (auto it = j.find("error"); it != j.end()) {
      if (it->is_object()) {
        e = &*it;
      } else if (it->is_string()) {
        out.message = it->get<std::string>();
        if (auto t = j.find("error_type"); t != j.end()) out.type = scalar_text(*t);
        return out;
      }
    }
    if (auto m = e->find("message"); m != e->end()) out.message = scalar_text(*m);
    if (auto t = e->find("type"); t != e->end()) out.type = scalar_text(*t);
    if (auto s = e->find("status"); s != e->end() && out.type.empty()) out.type = scalar_text(*s);
    if (auto c = e->find("code"); c != e->end()) out.code = scalar_text(*c);
    if (out.message.empty()) {
      if (auto d = j.find("detail"); d != j.end()) out.message = d->is_string() ? d->get<std::string>() : d->dump();
    }
    if (!out.message.empty()) return out;
  }
  out.message = printable_prefix(body, 200);
  return out;
}

}  // namespace ia::providers
