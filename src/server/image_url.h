#pragma once
// The image of an OpenAI chat content part {"type": "image_url", "image_url": {"url": ...}}. Only
// data: URLs (data:image/TYPE;base64,PAYLOAD) are read: the server never fetches a remote
// (http, https) URL nor reads a local file:// path, so a request cannot make it reach the network
// or the disk. The payload is bounded before it is decoded.
#include <cstddef>
#include <string>
#include <string_view>

namespace ia::server {

// The largest decoded image a data: URL may carry (the decoder then bounds its pixels).
inline constexpr size_t kMaxImageUrlBytes = size_t{20} << 20;

// The decoded bytes of a data: URL. Throws the 400 invalid_field naming `param` for another
// scheme, a media type other than image/*, a payload that is not base64, or one over max_bytes.
std::string image_url_bytes(std::string_view url, const std::string& param, size_t max_bytes = kMaxImageUrlBytes);

}  // namespace ia::server
