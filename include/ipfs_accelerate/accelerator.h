#pragma once
// The public C++ API of ipfs-accelerate. Nothing device- or ISA-specific
// appears here; errors are ipfs_accelerate::Error.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ipfs_accelerate {

// kind: "invalid_argument", "not_found", "corrupt", "unsupported", "unavailable", "internal".
// Every kind but "internal" is caused by the input (a CLI maps it to exit status 2).
class Error : public std::runtime_error {
 public:
  Error(std::string kind, const std::string& message) : std::runtime_error(message), kind_(std::move(kind)) {}
  const std::string& kind() const { return kind_; }
  bool is_user_error() const { return kind_ != "internal"; }

 private:
  std::string kind_;
};

struct AcceleratorOptions {
  int threads = 0;  // 0: one per physical core, at most the affinity mask, cgroup CPU quota and OMP_NUM_THREADS allow
};

struct EmbedOptions {
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  std::string dtype = "auto";          // auto (the checkpoint's: bf16 for bfloat16/float16, else f32) | f32 | bf16
  std::string quantize;                // "" | none | int8 | q4 | q4_128 | q4z | q4z_128 (docs/quantization.md)
  std::optional<std::string> pooling;  // cls | mean | max | mean_sqrt_len | lasttoken; default: the model folder's
  std::optional<bool> normalize;       // default: the model folder's (sentence-transformers Normalize module)
  int batch_size = 32;
  bool truncate = true;  // false: a text over the limit is an error
  // Tokens per text, special tokens included; default: the folder's max_seq_length
  // (sentence_bert_config.json), else the model's limit, which it may not exceed.
  std::optional<int> max_length;
  // Put before each text, as sentence-transformers' encode(prompt_name=… / prompt=…) does: a
  // prompt of config_sentence_transformers.json by name, or the text itself (not both).
  // Neither: the folder's default_prompt_name, when it has one.
  std::optional<std::string> prompt_name;
  std::optional<std::string> prompt;
};

struct EmbedResult {
  std::string model;
  std::string device;
  std::string dtype;
  std::string pooling;
  bool normalized = false;
  int dimensions = 0;
  std::vector<std::vector<float>> embeddings;
  std::vector<int> token_counts;      // tokens per text, special tokens included, after truncation
  std::vector<int> truncated;         // indices of the texts cut to max_length tokens
  int max_length = 0;                 // the limit of tokens per text that held
  std::vector<std::string> warnings;  // e.g. truncation
  double tokenize_ms = 0;
  double inference_ms = 0;
};

// An image: a file by path, or a file's bytes (an upload) with a name errors give it. PNG, JPEG
// (its EXIF orientation applied), WebP, GIF (first frame) and BMP, loaded as transformers' pipelines
// load them with PIL.
struct ImageInput {
  std::string path;
  std::optional<std::string> bytes;  // set: these bytes, named `path`
  static ImageInput file(std::string p) { return ImageInput{std::move(p), std::nullopt}; }
  static ImageInput data(std::string content, std::string name) {
    return ImageInput{std::move(name), std::move(content)};
  }
};

struct VisionOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  std::string dtype = "auto";   // auto (the checkpoint's) | f32 | bf16
};

struct ClassifyOptions : VisionOptions {
  int top_k = 5;  // labels per image, highest score first (at most the model's labels)
};

struct ImageLabel {
  int id = 0;
  std::string label;  // config.json's id2label
  float score = 0;    // softmax over the labels (sigmoid for multi-label or one-label heads)
};

struct ClassifyResult {
  std::string model, device, dtype;
  std::vector<std::vector<float>> logits;       // [images][labels]
  std::vector<std::vector<ImageLabel>> labels;  // [images][top_k]
  std::vector<std::string> warnings;
  double decode_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

struct DetectOptions : VisionOptions {
  // Detections whose score is above this are kept, in [0, 1] (the object-detection pipeline's 0.5).
  double threshold = 0.5;
};

struct ObjectDetection {
  int id = 0;
  std::string label;           // config.json's id2label
  float score = 0;             // the softmax probability of the best class that is not "no object"
  std::array<float, 4> box{};  // x0, y0, x1, y1 in pixels of the image as loaded (EXIF-oriented)
};

// Object detection (DETR): per image, the queries above the threshold, highest score first.
struct DetectResult {
  std::string model, device, dtype;
  double threshold = 0;
  std::vector<std::vector<ObjectDetection>> detections;  // [images][detections]
  std::vector<std::pair<int, int>> image_sizes;          // [images] (width, height) the boxes are in
  std::vector<std::string> warnings;
  double decode_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

// Image-text similarity (CLIP): embeddings L2-normalized as CLIPModel returns them, logits =
// exp(logit_scale) * cosine, probs = each image's softmax over the texts (zero-shot labels).
struct SimilarityResult {
  std::string model, device, dtype;
  float logit_scale = 0;
  std::vector<std::vector<float>> logits_per_image;  // [images][texts]
  std::vector<std::vector<float>> probs_per_image;   // [images][texts]
  std::vector<std::vector<float>> text_embeds, image_embeds;
  std::vector<int> token_counts;  // per text, special tokens included
  std::vector<std::string> warnings;
  double decode_ms = 0, tokenize_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

// A video: a video file (MP4/MOV, Matroska/WebM, AVI; decoded with FFmpeg's libraries) or a
// folder of frame images, by path, or a video file's bytes (an upload) with a name errors give it.
struct VideoInput {
  std::string path;
  std::optional<std::string> bytes;  // set: these bytes, named `path`
  static VideoInput file(std::string p) { return VideoInput{std::move(p), std::nullopt}; }
  static VideoInput data(std::string content, std::string name) {
    return VideoInput{std::move(name), std::move(content)};
  }
};

// Which frames of a video the model saw: the model's num_frames, spread evenly (frame i of
// `count` is floor(i * total / count), transformers' uniform sampling).
struct VideoSampling {
  std::string path;
  std::string format;  // the container, or "frames" for a folder
  std::string codec;   // the decoder; empty for a folder
  long long total_frames = 0;
  std::vector<long long> indices;
  double fps = 0;  // 0 when unknown
};

// Video-text similarity (X-CLIP): each text's embedding is conditioned on the video (X-CLIP's
// video-specific prompts), so text_embeds are per video; embeddings L2-normalized as XCLIPModel
// returns them, logits = exp(logit_scale) * cosine, probs = each video's softmax over the texts.
struct VideoSimilarityResult {
  std::string model, device, dtype;
  float logit_scale = 0;
  std::vector<std::vector<float>> logits_per_video;          // [videos][texts]
  std::vector<std::vector<float>> probs_per_video;           // [videos][texts]
  std::vector<std::vector<std::vector<float>>> text_embeds;  // [videos][texts][dim]
  std::vector<std::vector<float>> video_embeds;              // [videos][dim]
  std::vector<VideoSampling> videos;
  std::vector<int> token_counts;  // per text, special tokens included
  std::vector<std::string> warnings;
  double decode_ms = 0, tokenize_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

struct ImageEmbedOptions : VisionOptions {
  bool normalize = true;  // CLIPModel's image_embeds; false: get_image_features as it is
};

struct ImageEmbedResult {
  std::string model, device, dtype;
  bool normalized = true;
  int dimensions = 0;
  std::vector<std::vector<float>> embeddings;  // [images][dimensions]
  std::vector<std::string> warnings;
  double decode_ms = 0, preprocess_ms = 0, inference_ms = 0;
};

struct TokenizeResult {
  std::vector<int> ids;
  std::vector<int> type_ids;
  std::vector<std::string> tokens;
  std::vector<std::pair<size_t, size_t>> offsets;
};

// How the next token is chosen. Unset fields take the model folder's
// generation_config.json value, then transformers' default.
struct SamplingOptions {
  std::optional<float> temperature;  // 0: greedy; unset: generation_config.json's do_sample decides
  std::optional<int> top_k;          // 0: off
  std::optional<float> top_p, min_p, repetition_penalty;
  float presence_penalty = 0, frequency_penalty = 0;  // OpenAI semantics, in [-2, 2]
  std::map<int, float> logit_bias;
  std::optional<uint64_t> seed;             // same seed, same request: same output
  int logprobs = -1;                        // -1: none; 0: the sampled token's; n: also the n most likely
  std::optional<int> no_repeat_ngram_size;  // no n-gram of prompt + output occurs twice (0 = off)
};

// Text generation (decoder models and encoder-decoders such as T5): sampling or beam search,
// plus placement, length and stopping.
struct GenerateOptions : SamplingOptions {
  std::string device = "auto";          // auto | cpu
  std::string dtype = "auto";           // auto (the checkpoint's: bf16 for bfloat16/float16, else f32) | f32 | bf16
  std::string quantize;                 // "" | none | int8 | q4 | q4_128 | q4z | q4z_128 (docs/quantization.md)
  std::string kv_cache_dtype = "auto";  // auto (f32) | f32 | int8: what the KV cache keeps K/V as (CPU int8)
  std::optional<int> max_new_tokens;    // default: generation_config.json, else 256
  std::vector<std::string> stop;
  bool ignore_eos = false;
  bool truncate = false;  // keep the end of a prompt longer than the context instead of failing
  std::function<void(const std::string&)> on_text;  // streaming: text deltas, concatenating to `text`
  // Asked between tokens: true stops generating there, finish_reason "cancelled", with the
  // text so far (a chat's Ctrl-C). Called on the generating thread.
  std::function<bool()> cancelled;
  // Beam search as transformers' generate runs it (greedy, no stop strings or logprobs):
  // num_beams > 1; length_penalty (hypotheses score sum logprob / length ^ length_penalty);
  // early_stopping "true" | "false" | "never". Unset: generation_config.json's, else 1 beam.
  std::optional<int> num_beams;
  std::optional<float> length_penalty;
  std::optional<std::string> early_stopping;
  // Image files for a vision-language model (LLaVA, LLaVA-NeXT), in the order of the prompt's
  // `<image>` placeholders: generate puts them at the prompt's start when it has none; in chat they
  // are the conversation's images, in the order its messages' image items render.
  std::vector<std::string> images;
};

struct TokenLogprobs {
  int id = 0;
  float logprob = 0;
  std::vector<std::pair<int, float>> top;  // most likely first
};

struct GenerateResult {
  std::string model;
  std::string device;
  std::string dtype;
  std::vector<int> prompt_ids;
  std::vector<int> ids;  // generated tokens only
  std::string text;
  std::string finish_reason;  // "stop" | "length" | "cancelled"
  std::vector<TokenLogprobs> logprobs;
  std::vector<std::string> warnings;
  double prefill_ms = 0;
  double decode_ms = 0;
  double decode_tokens_per_s = 0;
  int cached_prompt_tokens = 0;     // prompt tokens a ChatSession took from its cache instead of prefilling
  std::optional<float> beam_score;  // beam search: the best hypothesis' length-penalised score
};

struct ChatTemplateOptions {
  bool add_generation_prompt = false;
  std::optional<std::string> template_name;   // a named template of the folder; default as transformers picks
  std::optional<std::string> tools_json;      // JSON list of tool (function) schemas
  std::optional<std::string> documents_json;  // JSON list of documents
  std::optional<std::string> extra_json;      // JSON object of further template variables
};

class Accelerator;

// A conversation whose KV cache outlives a turn (Accelerator::chat_session).
// chat() takes the whole conversation and answers as Accelerator::chat does, but
// prefills only the prompt tokens past the longest common prefix with what the
// cache holds from the previous turn (its prompt and reply), so a turn costs the
// new message rather than the history; GenerateResult::cached_prompt_tokens says
// how many were reused. A different device or dtype in the options starts a new
// cache. Not thread-safe; the Accelerator that made it must outlive it.
class ChatSession {
 public:
  ~ChatSession();
  ChatSession(const ChatSession&) = delete;
  ChatSession& operator=(const ChatSession&) = delete;

  GenerateResult chat(const std::string& messages_json, const GenerateOptions& options = {},
                      const ChatTemplateOptions& template_options = {});
  // Loads the model and checks the options now: the generation options (sampling, lengths,
  // device, dtype), the chat template (it exists, `template_name` names one, it parses) and
  // the tools / documents / variables JSON, so that they fail before a first turn rather than
  // in it. chat() with the same options then fails only on its messages.
  void prepare(const GenerateOptions& options = {}, const ChatTemplateOptions& template_options = {});

  // How a conversation fits the model's context: the prompt tokens it renders to (with the
  // generation prompt), the new tokens the options ask for after it (max_new_tokens, else the
  // model's generation_config.json, else 256) and the context length. A turn whose
  // prompt_tokens + max_new_tokens exceeds context_tokens gets fewer new tokens than asked
  // (none fit when prompt_tokens >= context_tokens: chat() refuses it).
  struct Fit {
    int prompt_tokens = 0;
    int max_new_tokens = 0;
    int context_tokens = 0;
  };
  Fit fit(const std::string& messages_json, const GenerateOptions& options = {},
          const ChatTemplateOptions& template_options = {});

  // Forgets the cached tokens: the next turn prefills its whole prompt.
  void reset();

 private:
  friend class Accelerator;
  struct Impl;
  explicit ChatSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

class Accelerator {
 public:
  explicit Accelerator(AcceleratorOptions options = {});
  ~Accelerator();
  Accelerator(const Accelerator&) = delete;
  Accelerator& operator=(const Accelerator&) = delete;

  // `model` is a Hugging Face model folder. Loaded models are kept for reuse.
  EmbedResult embed(const std::string& model, const std::vector<std::string>& texts, const EmbedOptions& options = {});

  // Image classification (ViT): each image's logits and top-k labels.
  ClassifyResult classify(const std::string& model, const std::vector<ImageInput>& images,
                          const ClassifyOptions& options = {});
  // Object detection (DETR): each image's labelled boxes above the threshold.
  DetectResult detect(const std::string& model, const std::vector<ImageInput>& images,
                      const DetectOptions& options = {});
  // Image-text similarity (CLIP) of every image with every text.
  SimilarityResult similarity(const std::string& model, const std::vector<ImageInput>& images,
                              const std::vector<std::string>& texts, const VisionOptions& options = {});
  // Video-text similarity (X-CLIP) of every video with every text.
  VideoSimilarityResult video_similarity(const std::string& model, const std::vector<VideoInput>& videos,
                                         const std::vector<std::string>& texts, const VisionOptions& options = {});
  // Image embeddings (CLIP's image tower and projection). A CLIP folder's text embeddings come
  // from embed(): its text tower and projection, normalized unless EmbedOptions::normalize is false.
  ImageEmbedResult embed_images(const std::string& model, const std::vector<ImageInput>& images,
                                const ImageEmbedOptions& options = {});

  TokenizeResult tokenize(const std::string& model, const std::string& text, bool add_special_tokens = true,
                          const std::optional<std::string>& pair = std::nullopt);
  std::string detokenize(const std::string& model, const std::vector<int>& ids, bool skip_special_tokens = false);
  // Many texts (each optionally with a pair) at once, in parallel; results in input order.
  std::vector<TokenizeResult> tokenize_batch(
      const std::string& model, const std::vector<std::pair<std::string, std::optional<std::string>>>& inputs,
      bool add_special_tokens = true);

  // Generates a continuation of `prompt`, tokenized as tokenizer.encode(prompt).
  GenerateResult generate(const std::string& model, const std::string& prompt, const GenerateOptions& options = {});

  // The prompt text the folder's chat template makes of `messages_json` (a
  // JSON list of {role, content} messages, or an object with "messages"), as
  // transformers' apply_chat_template(tokenize=False).
  std::string render_chat_template(const std::string& model, const std::string& messages_json,
                                   const ChatTemplateOptions& options = {});

  // One assistant turn: `messages_json` (as for render_chat_template) rendered through the
  // folder's chat template with the generation prompt, tokenized without adding special
  // tokens (the template writes them, as apply_chat_template(tokenize=True) does), then
  // generated as `generate` does.
  GenerateResult chat(const std::string& model, const std::string& messages_json, const GenerateOptions& options = {},
                      const ChatTemplateOptions& template_options = {});
  // A conversation on `model` that keeps its KV cache between turns (see ChatSession).
  std::unique_ptr<ChatSession> chat_session(const std::string& model);

  // JSON text describing the model folder (family, architecture, task, modality, parameters, dtypes, files).
  std::string inspect(const std::string& model);
  // JSON text describing this machine (CPU, ISA, memory, CUDA).
  static std::string hardware_json();

 private:
  friend class ChatSession;
  // One chat turn, through `session`'s cache when there is one.
  GenerateResult chat_turn(const std::string& model, const std::string& messages_json, const GenerateOptions& options,
                           const ChatTemplateOptions& template_options, ChatSession::Impl* session);
  void prepare_chat(const std::string& model, const GenerateOptions& options,
                    const ChatTemplateOptions& template_options);
  ChatSession::Fit chat_fit(const std::string& model, const std::string& messages_json, const GenerateOptions& options,
                            const ChatTemplateOptions& template_options);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ipfs_accelerate
