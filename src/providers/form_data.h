#pragma once
// A multipart/form-data body (RFC 7578) as the OpenAI SDKs send one (httpx's layout): each
// part's Content-Disposition with its name (and a file's filename and Content-Type), CRLF line
// ends, and a random boundary that none of the parts contains.
#include <string>
#include <string_view>
#include <vector>

namespace ia::providers {

class FormData {
 public:
  void add_field(std::string name, std::string value);
  void add_file(std::string name, std::string filename, std::string content_type, std::string bytes);
  // The body and the Content-Type header that names its boundary.
  struct Encoded {
    std::string content_type, body;
  };
  Encoded encode() const;

 private:
  struct Part {
    std::string name, filename, content_type, data;
    bool file = false;
  };
  std::vector<Part> parts_;
};

// A Content-Disposition parameter value as browsers and httpx write it: '"' as %22, CR and LF as
// %0D and %0A, '\' doubled.
std::string quote_form_param(std::string_view value);

// The audio MIME type of a file name's extension (wav, mp3, flac, ogg, m4a, webm, …), else
// application/octet-stream.
std::string audio_content_type(std::string_view filename);

}  // namespace ia::providers
