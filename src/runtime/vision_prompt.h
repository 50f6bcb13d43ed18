#pragma once
// Turns a prompt with images into what a vision-language model runs on, as LlavaProcessor /
// LlavaNextProcessor and the model's get_image_features do: each `<image>` placeholder of the text
// expanded to the image tokens of its image (in order), the text tokenized, every image processed
// into pixel values and its projected features computed once, on the model's device, before the
// prompt's prefill (PromptImages, which the steps take their image rows from).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/vision_language.h"
#include "preprocess/image/llava_processor.h"
#include "preprocess/image/rgb_image.h"
#include "runtime/prompt_images.h"
#include "tokenizers/tokenizer.h"

namespace ia {

// The most images one prompt may carry (each is a vision-tower pass and hundreds of tokens).
inline constexpr int64_t kMaxImagesPerPrompt = 16;

struct VisionPromptInput {
  std::vector<int32_t> ids;                    // the expanded prompt's tokens
  std::shared_ptr<const PromptImages> images;  // null without images
  std::vector<ImagePixels> pixels;             // each image's pixel_values (for tests and inspection)
};

class VisionPrompter {
 public:
  VisionPrompter(std::shared_ptr<const VisionLanguage> model, std::shared_ptr<const tok::Tokenizer> tokenizer,
                 image::LlavaProcessor processor);
  // The folder's processor for `model` (processor_config.json, preprocessor_config.json).
  static std::shared_ptr<VisionPrompter> load(const std::string& dir, std::shared_ptr<const VisionLanguage> model,
                                              std::shared_ptr<const tok::Tokenizer> tokenizer);

  const std::string& image_token() const { return processor_.config().image_token; }
  const image::LlavaProcessor& processor() const { return processor_; }
  // Placeholders (`<image>`) in a text.
  int64_t placeholders(const std::string& text) const;
  // The text with each placeholder repeated to its image's token count (what the tokenizer reads).
  std::string expand(const std::string& text, const std::vector<ImagePixels>& pixels) const;
  // Pixel values and original size of one image.
  ImagePixels pixels(const image::RgbImage& image) const;

  // The prompt's tokens and image features. A text without placeholders gets one per image at
  // its start ("<image>\n" each). InvalidArgument when the placeholders and images differ in
  // number, or past kMaxImagesPerPrompt; `add_special_tokens` as the tokenizer takes it (a chat
  // template's output already holds them).
  // Without `embed`, the features are left for the thread that runs the model (the images' pixels
  // stay in PromptImages::pixels; BatchEngine embeds them when it takes the request).
  VisionPromptInput prepare(const std::string& text, const std::vector<image::RgbImage>& images,
                            bool add_special_tokens = true, bool embed = true) const;

 private:
  std::shared_ptr<const VisionLanguage> model_;
  std::shared_ptr<const tok::Tokenizer> tok_;
  image::LlavaProcessor processor_;
};

}  // namespace ia
