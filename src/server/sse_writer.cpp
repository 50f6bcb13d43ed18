#include "server/sse_writer.h"

#include <httplib.h>

namespace ia::server {

bool SseWriter::write(const std::string& text) {
  return sink_.write(text.data(), text.size());
}

bool SseWriter::event(std::string_view json) {
  std::string text;
  text.reserve(json.size() + 8);
  text += "data: ";
  text += json;
  text += "\n\n";
  return write(text);
}

bool SseWriter::done() {
  return write("data: [DONE]\n\n");
}

bool SseWriter::keep_alive() {
  return write(": keep-alive\n\n");
}

void SseWriter::close() {
  sink_.done();
}

}  // namespace ia::server
