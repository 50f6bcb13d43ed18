#pragma once
// A provider configured to call a protocol fake on loopback, with short timeouts so failure
// cases end quickly.
#include "fakes/provider_fakes.h"
#include "providers/provider.h"
#include "providers/provider_client.h"

namespace ia::providers {

inline ProviderConfig fake_config(const std::string& type, const test::FakeProvider& fake,
                                  std::vector<std::string> keys = {}) {
  ProviderConfig c;
  c.name = type + "-fake";
  c.type = type;
  c.base_url = fake.base_url();
  for (size_t i = 0; i < keys.size(); ++i) c.key_labels.push_back("test key " + std::to_string(i + 1));
  c.keys = std::move(keys);
  c.timeouts.connect = std::chrono::milliseconds(2000);
  c.timeouts.first_byte = std::chrono::milliseconds(3000);
  c.timeouts.idle = std::chrono::milliseconds(3000);
  c.timeouts.total = std::chrono::milliseconds(10000);
  return c;
}

// A client that records the waits it would sleep instead of sleeping, on a clock that those
// waits move forward (so a key benched for a Retry-After is back after the wait).
struct RecordingClient {
  std::vector<std::chrono::milliseconds> waits;
  std::shared_ptr<SteadyClock::time_point> now = std::make_shared<SteadyClock::time_point>(SteadyClock::now());
  std::unique_ptr<ProviderClient> client;
  explicit RecordingClient(const ProviderConfig& c) {
    ClientHooks h;
    h.clock = [t = now] { return *t; };
    h.sleep = [this](std::chrono::milliseconds d) {
      waits.push_back(d);
      *now += d;
    };
    client = std::make_unique<ProviderClient>(make_provider(c), h);
  }
  ProviderClient* operator->() { return client.get(); }
};

inline ChatCall hello_chat(const std::string& model) {
  ChatCall c;
  c.model = model;
  c.messages = {{"system", "Be brief."}, {"user", "Hello!"}};
  c.params.max_tokens = 16;
  c.params.temperature = 0.2;
  return c;
}

}  // namespace ia::providers
