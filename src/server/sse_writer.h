#pragma once
// Server-sent events as the OpenAI streaming APIs send them: each event one
// "data: JSON" line and a blank line, the stream ending with "data: [DONE]".
// A comment line keeps a quiet stream alive and shows whether the client is
// still there (a write to a closed connection fails).
#include <string>
#include <string_view>

namespace httplib {
class DataSink;
}

namespace ia::server {

class SseWriter {
 public:
  explicit SseWriter(httplib::DataSink& sink) : sink_(sink) {}
  // Each returns false once the client is gone.
  bool event(std::string_view json);
  bool done();        // data: [DONE]
  bool keep_alive();  // ": keep-alive" comment
  void close();       // ends the chunked body

 private:
  bool write(const std::string& text);
  httplib::DataSink& sink_;
};

}  // namespace ia::server
