#pragma once
// The --api-key check: with keys set, a request must carry one of them as
// "Authorization: Bearer KEY" (what the OpenAI SDKs send) or "X-Api-Key: KEY";
// otherwise 401. Keys are compared in time independent of where they differ.
#include <string>
#include <vector>

namespace ia::server {

class ApiKeys {
 public:
  explicit ApiKeys(std::vector<std::string> keys) : keys_(std::move(keys)) {}
  bool required() const { return !keys_.empty(); }
  // Throws ApiError 401 unless a key is required and matches (or none is required).
  void check(const std::string& authorization, const std::string& x_api_key) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace ia::server
