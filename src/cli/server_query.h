#pragma once
// The commands that read a running `ipfs-accelerate serve` (status, providers status): one GET of
// a JSON route, with the server's API key when one is given.
#include <string>

#include <nlohmann/json.hpp>

namespace ia::cli {

// GET `path` of the server at `url` (Bearer `api_key` unless empty) and its JSON answer.
// Unavailable when nothing answers or the answer is not 200 (its first 300 bytes in the message);
// Corrupt when the answer is not JSON.
nlohmann::json get_server_json(const std::string& url, const std::string& path, const std::string& api_key);

}  // namespace ia::cli
