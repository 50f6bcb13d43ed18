#pragma once
// The CLI's CLAP calls (`similarity --audio`, `embed --audio`): audio files decoded, mixed to mono
// and resampled to the feature extractor's rate (preprocess/audio), the folder's AudioTextEndpoint
// (runtime/audio_text_endpoint.h), the results as JSON on stdout.
#include <string>
#include <vector>

namespace ia::cli {

struct AudioCallArgs {
  std::string model, device = "auto", dtype = "auto";
  std::vector<std::string> audios, texts;
  bool normalize = true;  // embed: --no-normalize gives get_audio_features as it is
};

// {"model","device","dtype","logit_scale_audio","logit_scale_text","logits_per_audio","probs_per_audio",
//  "logits_per_text","text_embeds","audio_embeds","token_counts","durations", timings}
int run_audio_similarity(const AudioCallArgs& args);
// {"model","device","dtype","normalized","dimensions","embeddings","durations", timings}
int run_embed_audio(const AudioCallArgs& args);
// Whether `model` is a local folder whose config.json says model_type "clap".
bool is_clap_folder(const std::string& model);
// The texts through CLAP's text tower and projection:
// {"model","device","dtype","normalized","dimensions","embeddings","token_counts", timings}
int run_embed_clap_texts(const AudioCallArgs& args);

}  // namespace ia::cli
