#!/usr/bin/env python3
# Copied unchanged from /work/shared/tools/bench/hf_reference_bench.py (the shared folder does not travel to the GPU machine).
"""Reference numbers from PyTorch + transformers on the same GPU, for side-by-side
comparison with the engine.  Builds random-weight models from configs (no
download), optionally saves them as safetensors so the engine loads the very
same weights, and times prefill, decode and embedding throughput.

  python3 hf_reference_bench.py --out results.json [--save-dir DIR] [--quick]
"""
import argparse
import json
import os
import time

import torch

torch.set_grad_enabled(False)

LLAMA_1B = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False)  # TinyLlama-1.1B shape
BERT_BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, max_position_embeddings=512)  # bert-base shape
MINILM_L6 = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                 intermediate_size=1536, max_position_embeddings=512)  # all-MiniLM-L6-v2 shape


def cuda_time(fn, warmup=3, reps=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        torch.cuda.synchronize()
        times.append(s.elapsed_time(e))
    times.sort()
    return times[len(times) // 2]


def copy_bandwidth():
    n = 1 << 30
    a = torch.empty(n, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    ms = cuda_time(lambda: b.copy_(a))
    return 2 * n / (ms / 1e3) / 1e9  # GB/s, read + write


def bench_llama(res, save_dir, quick):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(**LLAMA_1B)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).to(torch.bfloat16).eval()
    nparams = sum(p.numel() for p in model.parameters())
    if save_dir:
        d = os.path.join(save_dir, "llama-1b-random")
        model.save_pretrained(d, safe_serialization=True)
    r = {"params": nparams, "weight_bytes_bf16": 2 * nparams, "attn_impl": model.config._attn_implementation}
    for T in ([128] if quick else [128, 512, 2048]):
        x = torch.randint(0, cfg.vocab_size, (1, T), device="cuda")
        ms = cuda_time(lambda: model(input_ids=x, use_cache=False))
        r[f"prefill_b1_T{T}_ms"] = ms
        r[f"prefill_b1_T{T}_tok_s"] = T / (ms / 1e3)
    for B in ([1] if quick else [1, 16, 64]):
        x = torch.randint(0, cfg.vocab_size, (B, 32), device="cuda")
        new = 64 if quick else 128

        def gen():
            model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=new,
                           min_new_tokens=new, do_sample=False, pad_token_id=0)
        ms = cuda_time(gen, warmup=1, reps=3)
        r[f"generate_b{B}_new{new}_ms"] = ms
        r[f"generate_b{B}_tok_s"] = B * new / (ms / 1e3)
    if not quick:
        try:  # strongest stock PyTorch path: static cache + torch.compile
            x = torch.randint(0, cfg.vocab_size, (1, 32), device="cuda")

            def gen_c():
                model.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=128,
                               min_new_tokens=128, do_sample=False, pad_token_id=0,
                               cache_implementation="static", compile_config=None)
            model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=False)
            t0 = time.time()
            gen_c()
            r["compile_warmup_s"] = time.time() - t0
            ms = cuda_time(gen_c, warmup=1, reps=3)
            r["generate_b1_static_compiled_tok_s"] = 128 / (ms / 1e3)
        except Exception as e:  # report, don't fail the run
            r["compiled_error"] = repr(e)[:300]
    res["llama_1b_bf16"] = r
    del model
    torch.cuda.empty_cache()


def bench_encoder(res, name, shape, quick):
    from transformers import BertConfig, BertModel
    cfg = BertConfig(**shape)
    with torch.device("cuda"):
        model = BertModel(cfg).to(torch.float16).eval()
    r = {"attn_impl": model.config._attn_implementation}
    for B, T in ([(32, 128)] if quick else [(1, 16), (32, 128), (256, 128)]):
        x = torch.randint(0, cfg.vocab_size, (B, T), device="cuda")
        m = torch.ones_like(x)
        ms = cuda_time(lambda: model(input_ids=x, attention_mask=m))
        r[f"b{B}_T{T}_ms"] = ms
        r[f"b{B}_T{T}_seq_s"] = B / (ms / 1e3)
    res[name] = r
    del model
    torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--save-dir", default="")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    import transformers
    res = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
           "transformers": transformers.__version__, "copy_GBps": copy_bandwidth()}
    a_ = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = cuda_time(lambda: a_ @ a_)
    res["bf16_matmul_TFLOPs"] = 2 * 8192 ** 3 / (ms / 1e3) / 1e12
    del a_
    for fn in (lambda: bench_encoder(res, "bert_base_fp16", BERT_BASE, a.quick),
               lambda: bench_encoder(res, "minilm_l6_fp16", MINILM_L6, a.quick),
               lambda: bench_llama(res, a.save_dir, a.quick)):
        try:
            fn()
        except Exception as e:
            res.setdefault("errors", []).append(repr(e)[:400])
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
