#!/usr/bin/env python3
"""PyTorch + transformers on the CPU, timed the way bench/bench_decode.cpp times
the engine, on the very same model folder (the random-weight bf16 folders that
bench_decode writes, e.g. $IA_BENCH_DECODE_DIR/ia-bench-llama-1b-bf16), so the two
numbers sit side by side from one run on one machine.

- decode: a 16-token prompt prefilled with the KV cache (not timed), then 32 greedy
  steps of one token each with past_key_values (timed); batch 1 and batch 8.
- prefill: one forward of a 512-token prompt without a cache, LM head on the last
  token only (logits_to_keep=1, as generate() does and as the engine's prefill does).
Best of --reps repetitions (the engine's figure is one timed iteration: this favours
the baseline).

  taskset -c 0-1 python3 hf_cpu_decode_bench.py --model-dir DIR --threads 2 [--out r.json]

Prints one JSON object: tokens/s for each case and the torch / transformers versions.
"""
import argparse
import json
import time

import torch

torch.set_grad_enabled(False)

PROMPT, STEPS, PREFILL = 16, 32, 512


def decode_tok_s(model, vocab, batch, reps):
    g = torch.Generator().manual_seed(batch)
    best = 0.0
    for _ in range(reps):
        ids = torch.randint(3, vocab, (batch, PROMPT), generator=g)
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        t0 = time.perf_counter()
        for _ in range(STEPS):
            out = model(input_ids=nxt, past_key_values=past, use_cache=True)
            past, nxt = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
        dt = time.perf_counter() - t0
        best = max(best, batch * STEPS / dt)
    return best


def prefill_tok_s(model, vocab, reps):
    ids = torch.randint(3, vocab, (1, PREFILL), generator=torch.Generator().manual_seed(9))
    model(input_ids=ids, use_cache=False, logits_to_keep=1)  # warm-up
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        model(input_ids=ids, use_cache=False, logits_to_keep=1)
        best = max(best, PREFILL / (time.perf_counter() - t0))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--batch8", action="store_true", help="also time batch-8 decode")
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    import transformers
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(args.model_dir, dtype=torch.bfloat16).eval()
    vocab = model.config.vocab_size
    decode_tok_s(model, vocab, 1, 1)  # warm-up (first-touch of the weights, oneDNN primitives)
    r = {"model_dir": args.model_dir, "threads": torch.get_num_threads(),
         "attn_impl": model.config._attn_implementation,
         "decode_b1_tok_s": decode_tok_s(model, vocab, 1, args.reps)}
    if args.batch8:
        r["decode_b8_tok_s"] = decode_tok_s(model, vocab, 8, args.reps)
    r["prefill_512_tok_s"] = prefill_tok_s(model, vocab, args.reps)
    r["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__}
    line = json.dumps(r)
    print(line)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
