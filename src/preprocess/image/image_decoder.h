#pragma once
// Image files decoded into 8-bit RGB exactly as transformers' pipelines load them: PIL's
// Image.open, ImageOps.exif_transpose (load_image), then convert("RGB") (the processors'
// convert_to_rgb). PNG (libpng), JPEG (libjpeg-turbo), WebP (libwebp; the first frame of an
// animation), GIF (giflib; the first frame) and BMP (parsed here) are decoded.
//
// convert("RGB") drops alpha: an RGBA or LA pixel keeps its colour whatever its opacity (no
// compositing over a background), a palette entry made transparent by tRNS or a GIF's
// transparency index keeps its palette colour. Further PIL conversions kept: grayscale is
// replicated to the three channels; 16-bit PNG channels keep their high byte, except 16-bit
// grayscale without alpha, which PIL opens as "I;16" and converts by clipping to 255; CMYK JPEGs
// are inverted (Adobe convention, as PIL always assumes) and converted as PIL's cmyk2rgb; palette
// indices past the palette are black. The EXIF orientation of a JPEG (APP1), PNG (eXIf) or
// WebP (EXIF chunk) is applied, as exif_transpose does.
//
// Input is untrusted (uploads reach decode_image_bytes). Each refusal is one line naming the file:
// empty, not an image, an image format not decoded here, dimensions past the limits (checked from
// the header, before any pixel buffer is allocated), malformed or truncated data.
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "core/error.h"
#include "preprocess/image/rgb_image.h"

namespace ia::image {

struct ImageLimits {
  // PIL's Image.MAX_IMAGE_PIXELS (it warns past it and refuses past twice as many): ~268 MB of RGB.
  int64_t max_pixels = 89'478'485;
  int64_t max_side = 65'535;                    // either dimension
  int64_t max_file_bytes = int64_t{256} << 20;  // what is read of a file or accepted as an upload
  // The kind of every refusal. Unset, each has its own: InvalidArgument (empty, not an image, past
  // a limit), Corrupt (malformed or truncated), Unsupported (an image format or encoding not
  // decoded here), NotFound (no such path). A server sets InvalidArgument: every bad upload is the
  // client's 400.
  std::optional<ErrorKind> kind;
};

struct DecodedImage {
  RgbImage image;       // after the EXIF orientation
  std::string format;   // "PNG", "JPEG", "WebP", "GIF", "BMP"
  int orientation = 1;  // the EXIF orientation applied (1: none)
};

// Decodes the file at `path`; its path names it in errors.
DecodedImage decode_image_file(const std::string& path, const ImageLimits& limits = {});
// Decodes an in-memory file (an upload); `name` names it in errors.
DecodedImage decode_image_bytes(std::span<const uint8_t> bytes, const std::string& name,
                                const ImageLimits& limits = {});

}  // namespace ia::image
