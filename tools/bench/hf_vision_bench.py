#!/usr/bin/env python3
"""transformers' side of the vision benchmark (issue 15): a random-weight ViT-base-shaped
ViTForImageClassification (768 hidden, 12 layers, 12 heads, 224x224, patch 16, 1000 labels) saved
to OUT_DIR/vit-base for our `ipfs-accelerate bench --suite image-classification` to load, then timed
in transformers the way that suite times ours: `batch` random 224x224 RGB images through the image
processor and the model, median of the repetitions after a warm-up. Preprocessing alone is timed
too (ms per image). Prints one JSON document: {"versions", "threads", "results": [{engine, device,
dtype, batch, images_per_s, median_ms, preprocess_ms_per_image}]}.

  python3 tools/bench/hf_vision_bench.py OUT_DIR [--threads N] [--devices cpu,cuda] [--batches 1,32]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import torch
import transformers
from PIL import Image
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor


def make_folder(out):
    folder = os.path.join(out, "vit-base")
    if not os.path.exists(os.path.join(folder, "model.safetensors")):
        torch.manual_seed(0)
        cfg = ViTConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                        image_size=224, patch_size=16, num_labels=1000)
        ViTForImageClassification(cfg).save_pretrained(folder, safe_serialization=True)
        ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(folder)
    return folder


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    folder = make_folder(a.out)
    processor = ViTImageProcessor.from_pretrained(folder)
    rng = np.random.default_rng(0)
    results = []
    for device in a.devices.split(","):
        if device == "cuda" and not torch.cuda.is_available():
            continue
        for dtype_name, dtype in (("f32", torch.float32), ("bf16", torch.bfloat16)):
            model = ViTForImageClassification.from_pretrained(folder, dtype=dtype).to(device).eval()
            for batch in (int(b) for b in a.batches.split(",")):
                images = [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(batch)]

                def preprocess():
                    return processor(images, return_tensors="pt")["pixel_values"]

                def run():
                    with torch.inference_mode():
                        px = preprocess().to(device, dtype)
                        logits = model(pixel_values=px).logits
                        logits.float().cpu()  # the answer on the host, as ours gives it

                median = timed(run, a.reps)
                pre = timed(preprocess, a.reps)
                results.append({"engine": "transformers", "device": device, "dtype": dtype_name, "batch": batch,
                                "images_per_s": batch / median, "median_ms": median * 1e3,
                                "preprocess_ms_per_image": pre * 1e3 / batch})
            del model
    print(json.dumps({"versions": {"torch": torch.__version__, "transformers": transformers.__version__},
                      "threads": a.threads, "folder": folder, "results": results}))


if __name__ == "__main__":
    main()
