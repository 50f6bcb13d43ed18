#!/usr/bin/env python3
"""transformers' side of the model-family benchmarks of issues 14, 15 and 16: random-weight models
shaped like whisper-tiny / whisper-base, t5-small, CLIP ViT-B/32, DETR-ResNet-50 and LLaVA-1.5-7B,
saved as model folders for `ipfs-accelerate bench` to load, then timed in transformers the way the
matching suite of ours times them (benchmark_runner.h):

  whisper-*   60 s of audio (a 440 Hz tone in noise) as two 30-s windows, each the feature
              extractor + generate(language="en", task="transcribe") of exactly NEW tokens
              (min_new_tokens = max_new_tokens): audio seconds per second (1 / RTF).
  t5-small    generate of NEW tokens (eos held off) for BATCH random prompts of 64 tokens:
              generated tokens per second of wall time.
  clip-b32    image processor + get_image_features (normalized) of BATCH 224x224 images.
  detr-r50    image processor + model + post_process_object_detection of BATCH 1066x800 images.
  llava-7b    (GPU only) one 336x336 image + 32 text tokens: time to the first token (processor +
              generate of 1 token), and decode tokens/s of the next NEW tokens.

The tokenizers are this repository's fixture tokenizers with their vocabularies padded to the
real models' sizes (filler tokens), so generated ids always decode. Prints one JSON document:
{"versions", "threads", "results": [{model, device, dtype, batch, metric, value, unit, ...}]}.

  python3 tools/bench/hf_model_bench.py OUT_DIR [--models whisper-tiny,...] [--devices cpu,cuda]
      [--dtypes f32,bf16] [--threads N] [--reps 3] [--make-only]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import time

import numpy as np
import torch
import transformers
from PIL import Image

torch.set_grad_enabled(False)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "models")
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16}
AUDIO_SECONDS = 60
WHISPER_NEW_TOKENS = 64
T5_PROMPT, T5_NEW = 64, 64
LLAVA_TEXT_TOKENS, LLAVA_NEW = 32, 128


def padded_tokenizer(src_family, folder, vocab_size, extra_files=()):
    """The fixture's tokenizer.json with filler tokens up to vocab_size ids (BPE or Unigram)."""
    src = os.path.join(FIXTURES, src_family)
    doc = json.load(open(os.path.join(src, "tokenizer.json")))
    model = doc["model"]
    used = {t["id"] for t in doc.get("added_tokens", [])}
    if model["type"] == "Unigram":
        used |= set(range(len(model["vocab"])))
        for i in range(len(model["vocab"]), vocab_size):
            model["vocab"].append([f"zz{i}", -100.0])
    else:
        used |= set(model["vocab"].values())
        for i in range(vocab_size):
            if i not in used:
                model["vocab"][f"zz{i}"] = i
    os.makedirs(folder, exist_ok=True)
    json.dump(doc, open(os.path.join(folder, "tokenizer.json"), "w"), ensure_ascii=False)
    for f in ("tokenizer_config.json", "special_tokens_map.json") + tuple(extra_files):
        if os.path.exists(os.path.join(src, f)):
            shutil.copy(os.path.join(src, f), folder)


def save(model, folder, dtype=None):
    if dtype is not None:
        model = model.to(dtype)
    model.save_pretrained(folder, safe_serialization=True)


def done(folder):
    return os.path.exists(os.path.join(folder, "config.json")) and any(
        f.endswith(".safetensors") for f in os.listdir(folder))


def make_whisper(out, name):
    folder = os.path.join(out, name)
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration
    vocab = 51865
    if not done(folder):
        padded_tokenizer("whisper", folder, vocab)
    tok = json.load(open(os.path.join(folder, "tokenizer.json")))
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    if not done(folder):
        d, layers, heads = {"whisper-tiny": (384, 4, 6), "whisper-base": (512, 6, 8)}[name]
        cfg = WhisperConfig(vocab_size=vocab, num_mel_bins=80, d_model=d, encoder_layers=layers, decoder_layers=layers,
                            encoder_attention_heads=heads, decoder_attention_heads=heads, encoder_ffn_dim=4 * d,
                            decoder_ffn_dim=4 * d, max_source_positions=1500, max_target_positions=448,
                            decoder_start_token_id=ids["<|startoftranscript|>"], eos_token_id=ids["<|endoftext|>"],
                            pad_token_id=ids["<|endoftext|>"], bos_token_id=ids["<|endoftext|>"])
        torch.manual_seed(0)
        save(WhisperForConditionalGeneration(cfg), folder)
        WhisperFeatureExtractor(feature_size=80, sampling_rate=16000).save_pretrained(folder)
    # The generation config a multilingual checkpoint ships (save_pretrained of one derived from the
    # model config leaves these out, and transformers then refuses `language`).
    json.dump({"decoder_start_token_id": ids["<|startoftranscript|>"], "bos_token_id": ids["<|endoftext|>"],
               "eos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"], "max_length": 448,
               "lang_to_id": {"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]},
               "task_to_id": {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
               "no_timestamps_token_id": ids["<|notimestamps|>"], "prev_sot_token_id": ids["<|startofprev|>"],
               "is_multilingual": True, "begin_suppress_tokens": [220, ids["<|endoftext|>"]],
               "transformers_version": transformers.__version__},
              open(os.path.join(folder, "generation_config.json"), "w"), indent=2)
    return folder


def make_t5(out):
    folder = os.path.join(out, "t5-small")
    if done(folder):
        return folder
    from transformers import T5Config, T5ForConditionalGeneration
    padded_tokenizer("t5", folder, 32128)
    cfg = T5Config(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
                   relative_attention_num_buckets=32, feed_forward_proj="relu", decoder_start_token_id=0,
                   pad_token_id=0, eos_token_id=1)
    torch.manual_seed(0)
    save(T5ForConditionalGeneration(cfg), folder)
    return folder


def make_clip(out):
    folder = os.path.join(out, "clip-b32")
    if done(folder):
        return folder
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel
    padded_tokenizer("clip", folder, 49408)
    cfg = CLIPConfig(text_config=dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                                      num_attention_heads=8, max_position_embeddings=77),
                     vision_config=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                        num_attention_heads=12, image_size=224, patch_size=32),
                     projection_dim=512)
    torch.manual_seed(0)
    save(CLIPModel(cfg), folder)
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder


def make_detr(out):
    folder = os.path.join(out, "detr-r50")
    if done(folder):
        return folder
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessor, ResNetConfig
    backbone = ResNetConfig(depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048], embedding_size=64,
                            layer_type="bottleneck", out_features=["stage4"])
    labels = {i: f"class{i}" for i in range(91)}
    cfg = DetrConfig(backbone_config=backbone, use_timm_backbone=False, use_pretrained_backbone=False,
                     num_queries=100, d_model=256, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
                     decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, id2label=labels,
                     label2id={v: k for k, v in labels.items()})
    torch.manual_seed(0)
    save(DetrForObjectDetection(cfg), folder)
    DetrImageProcessor(size={"shortest_edge": 800, "longest_edge": 1333}).save_pretrained(folder)
    return folder


def make_llava(out):
    folder = os.path.join(out, "llava-7b")
    if done(folder):
        return folder
    from transformers import (AutoTokenizer, CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor)
    padded_tokenizer("llava", folder, 32064, extra_files=("chat_template.jinja",))
    tok = AutoTokenizer.from_pretrained(folder)
    image_token_id = tok.convert_tokens_to_ids("<image>")
    text = dict(model_type="llama", vocab_size=32064, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=4096, rms_norm_eps=1e-5,
                bos_token_id=1, eos_token_id=2)
    vision = dict(model_type="clip_vision_model", hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                  num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768, hidden_act="quick_gelu")
    cfg = LlavaConfig(text_config=text, vision_config=vision, image_token_id=image_token_id, image_seq_length=576,
                      projector_hidden_act="gelu", vision_feature_select_strategy="default", vision_feature_layer=-2)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)  # 7B parameters: made in bf16 where they will run
    with torch.device(device):
        model = LlavaForConditionalGeneration(cfg)
        for p in model.parameters():  # default init leaves some tensors at zero: give every one weight
            p.normal_(0.0, 0.02)
    torch.set_default_dtype(prev)
    save(model, folder)
    del model
    ip = CLIPImageProcessor(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    chat_template = open(os.path.join(folder, "chat_template.jinja")).read()
    LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                   num_additional_image_tokens=1, image_token="<image>", chat_template=chat_template).save_pretrained(
                       folder)
    return folder


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def tone(seconds, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) + rng.normal(0, 0.05, t.shape)).astype(np.float32)


def bench_whisper(folder, device, dtype, reps):
    from transformers import WhisperFeatureExtractor, WhisperForConditionalGeneration
    fe = WhisperFeatureExtractor.from_pretrained(folder)
    model = WhisperForConditionalGeneration.from_pretrained(folder, dtype=DTYPES[dtype]).to(device).eval()
    audio = tone(AUDIO_SECONDS)
    window = 30 * 16000

    def run():
        for at in range(0, len(audio), window):
            feats = fe(audio[at:at + window], sampling_rate=16000, return_tensors="pt")["input_features"]
            out = model.generate(feats.to(device, DTYPES[dtype]), language="en", task="transcribe",
                                 max_new_tokens=WHISPER_NEW_TOKENS, min_new_tokens=WHISPER_NEW_TOKENS)
            out.cpu()

    s = timed(run, reps)
    return [{"metric": "audio_s_per_s", "value": AUDIO_SECONDS / s, "unit": "audio s/s", "median_ms": s * 1e3,
             "batch": 1, "audio_seconds": AUDIO_SECONDS, "new_tokens_per_window": WHISPER_NEW_TOKENS}]


def bench_t5(folder, device, dtype, reps, batches):
    from transformers import T5ForConditionalGeneration
    model = T5ForConditionalGeneration.from_pretrained(folder, dtype=DTYPES[dtype]).to(device).eval()
    rng = np.random.default_rng(0)
    rows = []
    for b in batches:
        ids = torch.tensor(rng.integers(3, 32000, (b, T5_PROMPT)), device=device)

        def run():
            model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=T5_NEW,
                           min_new_tokens=T5_NEW, do_sample=False, num_beams=1).cpu()

        s = timed(run, reps)
        rows.append({"metric": "tokens_per_s", "value": b * T5_NEW / s, "unit": "tok/s", "median_ms": s * 1e3,
                     "batch": b, "prompt_tokens": T5_PROMPT, "new_tokens": T5_NEW})
    return rows


def images(n, w, h, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for _ in range(n)]


def bench_clip(folder, device, dtype, reps, batches):
    from transformers import CLIPImageProcessor, CLIPModel
    proc = CLIPImageProcessor.from_pretrained(folder)
    model = CLIPModel.from_pretrained(folder, dtype=DTYPES[dtype]).to(device).eval()
    rows = []
    for b in batches:
        imgs = images(b, 224, 224)

        def pre():
            return proc(imgs, return_tensors="pt")["pixel_values"]

        def run():
            e = model.get_image_features(pixel_values=pre().to(device, DTYPES[dtype]))
            e = e if torch.is_tensor(e) else e.pooler_output
            torch.nn.functional.normalize(e.float(), dim=-1).cpu()

        s = timed(run, reps)
        rows.append({"metric": "images_per_s", "value": b / s, "unit": "img/s", "median_ms": s * 1e3, "batch": b,
                     "preprocess_ms_per_image": timed(pre, reps) * 1e3 / b})
    return rows


def bench_detr(folder, device, dtype, reps, batches):
    from transformers import DetrForObjectDetection, DetrImageProcessor
    proc = DetrImageProcessor.from_pretrained(folder)
    model = DetrForObjectDetection.from_pretrained(folder, dtype=DTYPES[dtype]).to(device).eval()
    rows = []
    for b in batches:
        imgs = images(b, 1066, 800)

        def pre():
            return proc(imgs, return_tensors="pt")

        def run():
            inputs = pre()
            out = model(pixel_values=inputs["pixel_values"].to(device, DTYPES[dtype]),
                        pixel_mask=inputs["pixel_mask"].to(device))
            out.logits = out.logits.float()
            out.pred_boxes = out.pred_boxes.float()
            proc.post_process_object_detection(out, threshold=0.9, target_sizes=[(800, 1066)] * b)

        s = timed(run, reps)
        rows.append({"metric": "images_per_s", "value": b / s, "unit": "img/s", "median_ms": s * 1e3, "batch": b,
                     "preprocess_ms_per_image": timed(pre, reps) * 1e3 / b})
    return rows


def llava_prompt(tok):
    """"<image>\\n" and text of exactly LLAVA_TEXT_TOKENS tokens, as benchmark_runner.cpp builds it."""
    text = "<image>\n"
    base = len(tok(text)["input_ids"])
    while len(tok(text)["input_ids"]) - base < LLAVA_TEXT_TOKENS:
        text += " a"
    return text


def bench_llava(folder, device, dtype, reps):
    from transformers import LlavaForConditionalGeneration, LlavaProcessor
    proc = LlavaProcessor.from_pretrained(folder)
    model = LlavaForConditionalGeneration.from_pretrained(folder, dtype=DTYPES[dtype]).to(device).eval()
    text = llava_prompt(proc.tokenizer)
    img = images(1, 336, 336)[0]
    prompt_tokens = [0]

    def generate(n):
        inputs = proc(images=img, text=text, return_tensors="pt").to(device)
        inputs["pixel_values"] = inputs["pixel_values"].to(DTYPES[dtype])
        prompt_tokens[0] = int(inputs["input_ids"].shape[1])
        model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False).cpu()

    ttft = timed(lambda: generate(1), reps)
    total = timed(lambda: generate(LLAVA_NEW + 1), max(1, reps // 2))
    return [{"metric": "ttft_ms", "value": ttft * 1e3, "unit": "ms", "batch": 1, "prompt_tokens": prompt_tokens[0],
             "text_tokens": LLAVA_TEXT_TOKENS},
            {"metric": "decode_tokens_per_s", "value": LLAVA_NEW / (total - ttft), "unit": "tok/s", "batch": 1,
             "new_tokens": LLAVA_NEW}]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="whisper-tiny,whisper-base,t5-small,clip-b32,detr-r50")
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--dtypes", default="f32,bf16")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--make-only", action="store_true", help="only write the model folders")
    ap.add_argument("--json", help="also write the document here after every model (a timeout keeps what ran)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    makers = {"whisper-tiny": lambda: make_whisper(a.out, "whisper-tiny"),
              "whisper-base": lambda: make_whisper(a.out, "whisper-base"), "t5-small": lambda: make_t5(a.out),
              "clip-b32": lambda: make_clip(a.out), "detr-r50": lambda: make_detr(a.out),
              "llava-7b": lambda: make_llava(a.out)}
    results = []

    def document():
        return json.dumps({"versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                           "threads": a.threads, "results": results})

    for name in a.models.split(","):
        folder = makers[name]()
        print(f"{name}: {folder}", file=sys.stderr)
        if a.make_only:
            continue
        for device in a.devices.split(","):
            if device == "cuda" and not torch.cuda.is_available():
                continue
            if name == "llava-7b" and device != "cuda":
                continue  # 7B on the CPU: not part of issue 16's benchmark
            for dtype in a.dtypes.split(","):
                if name == "llava-7b" and dtype != "bf16":
                    continue
                t0 = time.time()
                try:
                    if name.startswith("whisper"):
                        rows = bench_whisper(folder, device, dtype, a.reps)
                    elif name == "t5-small":
                        rows = bench_t5(folder, device, dtype, a.reps, [1, 8])
                    elif name == "clip-b32":
                        rows = bench_clip(folder, device, dtype, a.reps, [1, 8])
                    elif name == "detr-r50":
                        rows = bench_detr(folder, device, dtype, a.reps, [1, 4] if device == "cuda" else [1])
                    else:
                        rows = bench_llava(folder, device, dtype, a.reps)
                except Exception as e:  # one model's failure does not lose the others' figures
                    print(f"{name} {device} {dtype}: {type(e).__name__}: {e}", file=sys.stderr)
                    continue
                for r in rows:
                    r.update({"model": name, "device": device, "dtype": dtype})
                    results.append(r)
                print(f"{name} {device} {dtype}: {time.time() - t0:.1f} s", file=sys.stderr)
                if a.json:
                    with open(a.json + ".tmp", "w") as f:
                        f.write(document())
                    os.replace(a.json + ".tmp", a.json)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
    print(document())


if __name__ == "__main__":
    main()
