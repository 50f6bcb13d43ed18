#pragma once
// Where a model folder keeps one part of its processor's settings (the audio feature extractor,
// the image processor), found as transformers finds them (PreprocessingMixin._get_config_dict):
// the object under the part's key in processor_config.json, which transformers 5 writes for a
// processor saved whole, else the whole of preprocessor_config.json, which a part saved alone and
// older folders have. Shared by preprocess/audio and preprocess/image.
#include <initializer_list>
#include <string>

#include "formats/hf_config.h"

namespace ia {

// The part's settings: values.path() is the file, "DIR/processor_config.json:KEY" when nested.
// `keys` are the names the part goes by in processor_config.json, in the order tried
// ({"feature_extractor", "audio_processor"}; {"image_processor"}). NotFound "DIR: no WHAT config
// (neither preprocessor_config.json nor a "KEY" in processor_config.json)" when the folder has
// neither; NotFound "DIR: no such model folder" when DIR is not a folder; Corrupt for JSON that
// is not an object.
HfConfig load_processor_part(const std::string& model_dir, std::initializer_list<const char*> keys,
                             const std::string& what);

}  // namespace ia
