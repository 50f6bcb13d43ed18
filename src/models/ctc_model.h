#pragma once
// The interface of a CTC speech model (Wav2Vec2ForCTC today; HuBERT, WavLM and Data2VecAudio CTC
// heads are the same shape): normalised waveforms in, per-frame vocabulary logits out. Clips of
// different lengths run as one step: each clip's convolutions alone, then its frames packed with
// the others' (no padding) through the transformer, each frame attending to its own clip's only.
// So a clip's logits are those transformers computes for that clip alone, and, for models whose
// feature extractor returns an attention mask, those of a right-padded batch with that mask on
// the clip's frames (ctc_logits_padded in runtime/ctc_transcription.h maps such a batch here).
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ia {

struct CtcOutput {
  Tensor logits;                     // [T, vocab] f32 on the model's device: every clip's frames, packed
  Tensor hidden_states;              // [T, hidden] f32: the encoder's last hidden state of the same frames
  std::vector<int64_t> frame_start;  // [S + 1]: clip s owns rows frame_start[s] .. frame_start[s+1]-1

  int64_t num_clips() const { return static_cast<int64_t>(frame_start.size()) - 1; }
  // Clip s's rows of logits, [frames, vocab] (a view).
  Tensor clip_logits(int64_t s) const;
};

class CtcModel {
 public:
  virtual ~CtcModel() = default;

  virtual int64_t vocab_size() const = 0;
  virtual int64_t hidden_size() const = 0;
  // Frames of logits a clip of `samples` samples gives (the feature encoder's output length);
  // 0 when the clip is shorter than its receptive field.
  virtual int64_t output_frames(int64_t samples) const = 0;
  // The fewest samples that give a frame.
  virtual int64_t min_input_samples() const = 0;
  // Input samples per output frame (the product of the conv strides: 320 for 16 kHz Wav2Vec2,
  // a frame every 20 ms), transformers' inputs_to_logits_ratio.
  virtual int64_t samples_per_frame() const = 0;
  virtual DType compute_dtype() const = 0;
  virtual Device device() const = 0;

  // clips: one f32 tensor of samples per clip ([samples], on the host or the model's device),
  // the feature extractor's input_values (normalised as it normalises them). InvalidArgument for
  // no clips, or a clip that is not a 1-D f32 tensor or gives no frame.
  virtual CtcOutput forward(const std::vector<Tensor>& clips) const = 0;
};

}  // namespace ia
