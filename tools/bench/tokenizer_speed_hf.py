#!/usr/bin/env python3
"""Time Hugging Face `tokenizers` (Rust) on the same text as bench/bench_tokenizer.cpp.

The C++ benchmark writes its texts with IA_BENCH_TEXT_OUT=FILE (JSONL, one
JSON string per line); this script reads that file, so both sides tokenize
byte-identical input. For each fixture tokenizer it times:
  encode loop     Tokenizer.encode(text) for every text, one at a time
  encode_batch    Tokenizer.encode_batch(texts) on RAYON_NUM_THREADS threads
and prints one JSON object per measurement (MB/s of UTF-8 input).

RAYON_NUM_THREADS is read by the Rust library once, at its first parallel
call, so run the script once per thread count:
  RAYON_NUM_THREADS=1 python3 tokenizer_speed_hf.py --text text.jsonl --fixtures tests/fixtures
"""
import argparse
import json
import os
import time


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--text", required=True, help="JSONL written by bench_tokenizer (IA_BENCH_TEXT_OUT)")
    ap.add_argument("--fixtures", required=True, help="tests/fixtures directory")
    ap.add_argument("--families", default="gpt2,llama")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    import tokenizers
    from tokenizers import Tokenizer

    with open(args.text, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f if line.strip()]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    threads = os.environ.get("RAYON_NUM_THREADS", "all")
    for family in args.families.split(","):
        tok = Tokenizer.from_file(os.path.join(args.fixtures, "models", family, "tokenizer.json"))
        tokens = sum(len(e.ids) for e in tok.encode_batch(texts))
        loop = best_of(lambda: [tok.encode(t) for t in texts], args.repeats)
        batch = best_of(lambda: tok.encode_batch(texts), args.repeats)
        for mode, secs in (("encode_loop", loop), ("encode_batch", batch)):
            print(json.dumps({"library": "tokenizers " + tokenizers.__version__, "family": family, "mode": mode,
                              "threads": threads if mode == "encode_batch" else "1", "mb": round(mb, 3),
                              "tokens": tokens, "seconds": round(secs, 4), "mb_per_s": round(mb / secs, 2)}))


if __name__ == "__main__":
    main()
