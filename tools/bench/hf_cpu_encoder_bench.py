#!/usr/bin/env python3
"""PyTorch + transformers BertModel (sdpa attention) on the CPU, timed on the
workloads bench/bench_encoder.cpp runs, so the two figures come from one run on
one machine: random-weight models with all-MiniLM-L6-v2's and BERT-base's shapes,
f32 and bf16, a batch of 32 sequences of 128 tokens, and a batch of 32 of mixed
lengths (uniform 16..128, the same lengths as bench_encoder draws) padded to the
longest with an attention mask, as a tokenizer called with padding=True hands them.
Best of --reps timed forwards after a warm-up (this favours the baseline).

  taskset -c 0-1 python3 hf_cpu_encoder_bench.py --threads 2 [--out r.json]

Prints one JSON object: sequences/s for each case and the torch / transformers versions.
"""
import argparse
import json
import random
import time

import torch

torch.set_grad_enabled(False)

SHAPES = {
    "minilm_l6": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536),
    "bert_base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}
BATCH, SEQ, VOCAB = 32, 128, 30522


def mixed_lengths():
    # bench_encoder.cpp draws 16 + rng() % 113 from std::mt19937(11); Python's Mersenne
    # Twister seeded the same way gives the same 32-bit outputs through getrandbits(32).
    rng = random.Random()
    rng.seed(11)
    state = rng.getstate()
    # std::mt19937(seed) initialises its state differently from Python's seed(); rebuild it.
    mt = [0] * 624
    mt[0] = 11
    for i in range(1, 624):
        mt[i] = (1812433253 * (mt[i - 1] ^ (mt[i - 1] >> 30)) + i) & 0xFFFFFFFF
    rng.setstate((state[0], tuple(mt + [624]), state[2]))
    return [16 + rng.getrandbits(32) % (SEQ - 16 + 1) for _ in range(BATCH)]


def seq_per_s(model, lengths, reps):
    longest = max(lengths)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(5, VOCAB, (BATCH, longest), generator=g)
    mask = torch.zeros(BATCH, longest, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    model(input_ids=ids, attention_mask=mask)  # warm-up
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter()
        model(input_ids=ids, attention_mask=mask)
        best = max(best, BATCH / (time.perf_counter() - t0))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers
    from transformers import BertConfig, BertModel

    res = {"torch": torch.__version__, "transformers": transformers.__version__, "threads": torch.get_num_threads(),
           "mixed_lengths": mixed_lengths()}
    for name, shape in SHAPES.items():
        cfg = BertConfig(vocab_size=VOCAB, max_position_embeddings=512, **shape)
        cfg._attn_implementation = "sdpa"  # what transformers picks by default on CPU; stated explicitly
        torch.manual_seed(0)
        for dtype, tag in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
            model = BertModel(cfg, add_pooling_layer=False).to(dtype).eval()
            res["attn_implementation"] = model.config._attn_implementation
            res[f"{name}_{tag}"] = seq_per_s(model, [SEQ] * BATCH, args.reps)
            res[f"{name}_{tag}_mixed"] = seq_per_s(model, res["mixed_lengths"], args.reps)
    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
