#pragma once
// The Accelerator's vision calls (classify, detect, similarity, embed_images, and embed for a CLIP
// folder's texts): images decoded from paths or uploads within ImageLimits, the folder's endpoint
// loaded once per (folder, device, dtype), the results in the public types.
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "ipfs_accelerate/accelerator.h"
#include "preprocess/image/image_decoder.h"
#include "router/load_once_cache.h"
#include "runtime/image_endpoints.h"
#include "runtime/object_detection.h"
#include "runtime/video_endpoints.h"

namespace ia::router {

class VisionEndpoints {
 public:
  std::shared_ptr<ImageClassificationEndpoint> classifier(const std::string& dir, Device device, DType dtype);
  std::shared_ptr<ImageTextEndpoint> image_text(const std::string& dir, Device device, DType dtype);
  std::shared_ptr<VideoTextEndpoint> video_text(const std::string& dir, Device device, DType dtype);
  std::shared_ptr<ObjectDetectionEndpoint> detector(const std::string& dir, Device device, DType dtype);

 private:
  using Key = std::tuple<std::string, std::string, int>;  // folder, device, dtype
  LoadOnceCache<Key, ImageClassificationEndpoint> classifiers_;
  LoadOnceCache<Key, ImageTextEndpoint> image_text_;
  LoadOnceCache<Key, VideoTextEndpoint> video_text_;
  LoadOnceCache<Key, ObjectDetectionEndpoint> detectors_;
};

// The images decoded (paths or bytes), each refusal naming its file.
std::vector<image::RgbImage> decode_images(const std::vector<ipfs_accelerate::ImageInput>& images,
                                           const image::ImageLimits& limits, double* decode_ms);

ipfs_accelerate::ClassifyResult classify(VisionEndpoints& v, const std::string& model,
                                         const std::vector<ipfs_accelerate::ImageInput>& images,
                                         const ipfs_accelerate::ClassifyOptions& options);
ipfs_accelerate::DetectResult detect(VisionEndpoints& v, const std::string& model,
                                     const std::vector<ipfs_accelerate::ImageInput>& images,
                                     const ipfs_accelerate::DetectOptions& options);
ipfs_accelerate::SimilarityResult similarity(VisionEndpoints& v, const std::string& model,
                                             const std::vector<ipfs_accelerate::ImageInput>& images,
                                             const std::vector<std::string>& texts,
                                             const ipfs_accelerate::VisionOptions& options);
// Videos are decoded (the model's num_frames each, read from its config) before the model loads.
ipfs_accelerate::VideoSimilarityResult video_similarity(VisionEndpoints& v, const std::string& model,
                                                        const std::vector<ipfs_accelerate::VideoInput>& videos,
                                                        const std::vector<std::string>& texts,
                                                        const ipfs_accelerate::VisionOptions& options);
ipfs_accelerate::ImageEmbedResult embed_images(VisionEndpoints& v, const std::string& model,
                                               const std::vector<ipfs_accelerate::ImageInput>& images,
                                               const ipfs_accelerate::ImageEmbedOptions& options);
// Whether `dir` holds an image-text model (CLIP), whose texts embed() sends to embed_clip_texts.
bool is_image_text_folder(const std::string& dir);
ipfs_accelerate::EmbedResult embed_clip_texts(VisionEndpoints& v, const std::string& model, const std::string& dir,
                                              const std::vector<std::string>& texts,
                                              const ipfs_accelerate::EmbedOptions& options);

}  // namespace ia::router
