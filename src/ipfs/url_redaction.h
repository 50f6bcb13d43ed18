#pragma once
// URLs as they may be shown: a gateway URL can carry credentials
// (http://user:password@host/), which must never reach a terminal or a log.
#include <string>
#include <string_view>

namespace ia::ipfs {

// `url` with its user:password@ part replaced by "***@"; unchanged when it has none.
std::string redact_url(std::string_view url);

}  // namespace ia::ipfs
