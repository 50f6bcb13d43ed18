#include "runtime/vision_prompt.h"

#include "core/error.h"

namespace ia {

VisionPrompter::VisionPrompter(std::shared_ptr<const VisionLanguage> model,
                               std::shared_ptr<const tok::Tokenizer> tokenizer, image::LlavaProcessor processor)
    : model_(std::move(model)), tok_(std::move(tokenizer)), processor_(std::move(processor)) {
  IA_CHECK(model_ && tok_, "vision prompter: no model or tokenizer");
  const auto id = tok_->token_to_id(image_token());
  if (!id || *id != model_->image_token_id())
    fail(ErrorKind::Corrupt, "the tokenizer's \"{}\" is {}, not the model's image_token_id {}", image_token(),
         id ? std::to_string(*id) : "no token", model_->image_token_id());
}

std::shared_ptr<VisionPrompter> VisionPrompter::load(const std::string& dir,
                                                     std::shared_ptr<const VisionLanguage> model,
                                                     std::shared_ptr<const tok::Tokenizer> tokenizer) {
  IA_CHECK(model != nullptr, "vision prompter: no model");
  // The model says what its processor must be: its tower's patch, anyres or not.
  image::LlavaProcessor processor = image::LlavaProcessor::load(dir, model->vision_patch_size(), model->anyres());
  return std::make_shared<VisionPrompter>(std::move(model), std::move(tokenizer), std::move(processor));
}

int64_t VisionPrompter::placeholders(const std::string& text) const {
  const std::string& t = image_token();
  int64_t n = 0;
  for (size_t at = text.find(t); at != std::string::npos; at = text.find(t, at + t.size())) ++n;
  return n;
}

std::string VisionPrompter::expand(const std::string& text, const std::vector<ImagePixels>& pixels) const {
  const std::string& t = image_token();
  std::string out;
  size_t from = 0, image = 0;
  for (size_t at = text.find(t); at != std::string::npos; at = text.find(t, from)) {
    IA_CHECK(image < pixels.size(), "vision prompt: more placeholders than images");
    out.append(text, from, at - from);
    const ImagePixels& p = pixels[image++];
    const int64_t n = processor_.image_tokens(p.height, p.width);
    for (int64_t i = 0; i < n; ++i) out += t;
    from = at + t.size();
  }
  out.append(text, from, std::string::npos);
  return out;
}

ImagePixels VisionPrompter::pixels(const image::RgbImage& image) const {
  ImagePixels p;
  p.pixel_values = processor_.preprocess(image);
  p.height = image.height;
  p.width = image.width;
  const int64_t ours = processor_.image_tokens(p.height, p.width);
  const int64_t model = model_->image_tokens(p.height, p.width);
  if (ours != model)
    fail(ErrorKind::Corrupt,
         "the processor expands an image to {} tokens but the model gives {} features (processor_config.json's "
         "patch_size / num_additional_image_tokens / vision_feature_select_strategy disagree with config.json)",
         ours, model);
  return p;
}

VisionPromptInput VisionPrompter::prepare(const std::string& text, const std::vector<image::RgbImage>& images,
                                          bool add_special_tokens, bool embed) const {
  VisionPromptInput in;
  if (static_cast<int64_t>(images.size()) > kMaxImagesPerPrompt)
    fail(ErrorKind::InvalidArgument, "{} images in one prompt; at most {} are accepted", images.size(),
         kMaxImagesPerPrompt);
  std::string prompt = text;
  int64_t slots = placeholders(text);
  if (slots == 0 && !images.empty()) {
    std::string lead;
    for (size_t i = 0; i < images.size(); ++i) lead += image_token() + "\n";
    prompt = lead + text;
    slots = static_cast<int64_t>(images.size());
  }
  if (slots != static_cast<int64_t>(images.size()))
    fail(ErrorKind::InvalidArgument, "the prompt has {} {} placeholders for {} images", slots, image_token(),
         images.size());
  for (const auto& im : images) in.pixels.push_back(pixels(im));
  in.ids = tok_->encode(expand(prompt, in.pixels), add_special_tokens).ids;
  if (images.empty()) return in;

  auto pi = std::make_shared<PromptImages>();
  const int64_t image_id = model_->image_token_id();
  for (size_t i = 0; i < in.ids.size(); ++i)
    if (in.ids[i] == image_id) pi->positions.push_back(static_cast<int64_t>(i));
  int64_t expected = 0;
  for (const ImagePixels& p : in.pixels) {
    const int64_t n = model_->image_tokens(p.height, p.width);
    pi->image_tokens.push_back(n);
    expected += n;
    const Tensor& px = p.pixel_values;
    const int64_t size[2] = {p.height, p.width};
    pi->image_hashes.push_back(content_hash(px.data<float>(), static_cast<size_t>(px.numel()) * sizeof(float),
                                            content_hash(size, sizeof(size))));
  }
  if (static_cast<int64_t>(pi->positions.size()) != expected)
    fail(ErrorKind::InvalidArgument, "the prompt holds {} image tokens where its images need {}", pi->positions.size(),
         expected);
  if (embed) {
    pi->features = model_->embed_images(in.pixels);
    IA_CHECK(pi->features.size(0) == expected, "vision prompt: {} feature rows for {} image tokens",
             pi->features.size(0), expected);
  } else {
    pi->pixels = in.pixels;
  }
  in.images = std::move(pi);
  return in;
}

}  // namespace ia
