#!/usr/bin/env python3
"""One table from what scripts/gpu/bench.sh leaves in LOG_DIR: our engine (bench_decode.json,
bench_encoder.json: Google Benchmark JSON with IA_BENCH_DEVICE=cuda) beside PyTorch + transformers
(hf.json from hf_reference_bench.py), measured on the same GPU in the same run.

  python3 tools/bench/summarize_gpu_bench.py LOG_DIR

Columns: ours, PyTorch, speed-up (> 1: ours faster; for times it is PyTorch's time / ours), each
engine's fraction of the hardware ceiling (decode: weight bytes streamed per step / copy
bandwidth; prefill and encoders: FLOP/s / bf16 GEMM rate; the ceilings are the higher of our and
PyTorch's measurement in this run), and issue 12's target where it names one. Any file may be
missing or cut short (a phase that failed or timed out): what is there is still shown.
PyTorch's prefill (use_cache=False) computes logits for every token, ours for the last only; its
fraction of the GEMM rate counts our FLOPs, so it is slightly understated."""
import json
import os
import sys

NAN = float("nan")


def load_json(path):
    """The file's JSON; a file cut short (a crashed or killed benchmark) up to its last complete
    benchmark entry; None when absent or unreadable."""
    try:
        text = open(path).read()
    except OSError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    # Google Benchmark flushes after each benchmark: close the array after the last whole entry
    # (entries end with "}" indented by 4), else keep the context alone.
    candidates = []
    entry_end, array = text.rfind("\n    }"), text.find('"benchmarks": [')
    if entry_end >= 0:
        candidates.append(text[:entry_end + 6] + "\n  ]\n}\n")
    if array >= 0:
        candidates.append(text[:array + len('"benchmarks": [')] + "]}\n")
    for c in candidates:
        try:
            j = json.loads(c)
        except ValueError:
            continue
        j["_truncated"] = True
        return j
    return None


def short_name(name):
    """BM_Decode/llama_1b_b1/real_time -> BM_Decode/llama_1b_b1 (settings the library appends)."""
    return "/".join(p for p in name.split("/") if p != "real_time" and not p.startswith("min_time:"))


def load_bench(paths, notes):
    """name -> entry over the given files in order; a later file fills what an earlier one lacks
    or has as failed (bench.sh reruns failed decoder cases on its own random weights)."""
    out, context = {}, None
    for path in paths:
        j = load_json(path)
        if j is None:
            if os.path.exists(path):
                notes.append(f"{os.path.basename(path)}: unreadable")
            continue
        if j.get("_truncated"):
            notes.append(f"{os.path.basename(path)}: cut short (crash or timeout); entries up to then are shown")
        context = context or j.get("context")
        for r in j.get("benchmarks", []):
            n = short_name(r.get("name", ""))
            if n not in out:
                out[n] = r
            elif out[n].get("error_occurred") and not r.get("error_occurred"):
                notes.append(f"{n}: failed in {os.path.basename(paths[0])} ({out[n].get('error_message', '')[:200]}); "
                             f"shown from {os.path.basename(path)}")
                out[n] = r
    return out, context or {}


def ms_of(r):
    """An entry's time per iteration in milliseconds."""
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}.get(r.get("time_unit", "ms"), 1.0)
    return r["real_time"] * scale if "real_time" in r else NAN


def ok(r):
    return r is not None and not r.get("error_occurred")


def get(d, *keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return NAN
        d = d[k]
    return d if isinstance(d, (int, float)) else NAN


def fin(x):
    return x == x and x not in (float("inf"), -float("inf"))


def fmt(x, digits=None):
    if not fin(x):
        return "-"
    if digits is None:
        digits = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return f"{x:,.{digits}f}"


def pct(x):
    return f"{100 * x:.0f}%" if fin(x) else "-"


def main():
    log = sys.argv[1] if len(sys.argv) > 1 else "."
    notes = []
    hf = load_json(os.path.join(log, "hf.json"))
    if hf is None:
        notes.append("hf.json: missing or unreadable (the PyTorch phase failed: see hf.txt)")
        hf = {}
    dec, dec_ctx = load_bench([os.path.join(log, "bench_decode.json"), os.path.join(log, "bench_decode_own.json")],
                              notes)
    enc, enc_ctx = load_bench([os.path.join(log, "bench_encoder.json")], notes)
    eager, _ = load_bench([os.path.join(log, "bench_decode_eager.json")], []) \
        if os.path.exists(os.path.join(log, "bench_decode_eager.json")) else ({}, {})
    if not dec:
        notes.append("bench_decode.json: no results (see bench_decode.err)")
    if not enc:
        notes.append("bench_encoder.json: no results (see bench_encoder.err)")
    llama = hf.get("llama_1b_bf16", {})

    # Ceilings, ours and PyTorch's; fractions use the higher of the two.
    ours_copy = dec["BM_MemCopy"]["GB/s"] * 1e9 if ok(dec.get("BM_MemCopy")) else NAN
    gemm_runs = (dec.get("BM_LargeGemmBf16"), enc.get("BM_LargeGemm/bf16"))
    gemms = [r["FLOP/s"] for r in gemm_runs if ok(r) and "FLOP/s" in r]
    ours_gemm = max(gemms) if gemms else NAN
    torch_copy = get(hf, "copy_GBps") * 1e9
    torch_gemm = get(hf, "bf16_matmul_TFLOPs") * 1e12
    copy_bw = max((x for x in (ours_copy, torch_copy) if fin(x)), default=NAN)
    gemm = max((x for x in (ours_gemm, torch_gemm) if fin(x)), default=NAN)

    rows = []  # (metric, ours, torch, speed-up, ours of ceiling, torch of ceiling, target)

    def row(metric, ours, torch, higher_is_better=True, f_ours=NAN, f_torch=NAN, target="", digits=None):
        speed = (ours / torch if higher_is_better else torch / ours) if fin(ours) and fin(torch) and ours and torch \
            else NAN
        rows.append((metric, fmt(ours, digits), fmt(torch, digits), fmt(speed, 2), pct(f_ours), pct(f_torch), target))

    def target(cond, text):
        return f"{text} {'ok' if cond else 'MISS'}" if cond is not None else f"{text} ?"

    row("copy bandwidth, GB/s (1 GiB D2D, read+write)", ours_copy / 1e9, torch_copy / 1e9,
        f_ours=ours_copy / copy_bw, f_torch=torch_copy / copy_bw)
    row("bf16 GEMM 8192^3, TFLOP/s", ours_gemm / 1e12, torch_gemm / 1e12, f_ours=ours_gemm / gemm,
        f_torch=torch_gemm / gemm)

    # Decode of the TinyLlama shape: PyTorch's generate() (prefill + 127 steps for 128 new tokens)
    # against ours timed the same way (generate_tokens/s), and our steps alone.
    for b in (1, 16, 64):
        r = dec.get(f"BM_Decode/llama_1b_b{b}")
        weight_bytes = r.get("weight_MB", NAN) * 1e6 if ok(r) else NAN
        roof = lambda tok_s: tok_s / b * weight_bytes / copy_bw  # noqa: E731 (weights streamed per step / bandwidth)
        ours_gen = r.get("generate_tokens/s", NAN) if ok(r) else NAN
        torch_gen = get(llama, f"generate_b{b}_tok_s")
        t = ""
        if b == 64:
            t = target(ours_gen >= 20000 if fin(ours_gen) else None, ">= 20,000")
        row(f"generate b{b}, tok/s (32-token prompts, 128 new)", ours_gen, torch_gen, f_ours=roof(ours_gen),
            f_torch=roof(torch_gen), target=t)
        ours_steps = r.get("tokens/s", NAN) if ok(r) else NAN
        t = ""
        if b == 1:
            f = roof(ours_steps)
            t = target(f >= 0.70 if fin(f) else None, ">= 70% of roofline")
        row(f"  decode steps only b{b}, tok/s", ours_steps, NAN, f_ours=roof(ours_steps), target=t)
        e = eager.get(f"BM_Decode/llama_1b_b{b}")
        if e is not None:
            eg = e.get("generate_tokens/s", NAN) if ok(e) else NAN
            row(f"  generate b{b} op by op (IA_CUDA_GRAPHS=0), tok/s", eg, NAN, f_ours=roof(eg))
        if b == 1 and "generate_b1_static_compiled_tok_s" in llama:
            torch_c = get(llama, "generate_b1_static_compiled_tok_s")
            row("  generate b1 vs torch.compile + static cache", ours_gen, torch_c, f_ours=roof(ours_gen),
                f_torch=roof(torch_c))

    for T in (128, 512, 2048):
        r = dec.get(f"BM_Prefill/llama_1b_{T}")
        ours_ms = ms_of(r) if ok(r) else NAN
        flops = r.get("FLOP/s", NAN) * ours_ms / 1e3 if ok(r) else NAN  # per prefill
        torch_ms = get(llama, f"prefill_b1_T{T}_ms")
        t = target(ours_ms <= 8 if fin(ours_ms) else None, "<= 8 ms") if T == 2048 else ""
        row(f"prefill {T} tokens b1, ms", ours_ms, torch_ms, higher_is_better=False,
            f_ours=flops / (ours_ms / 1e3) / gemm, f_torch=flops / (torch_ms / 1e3) / gemm, target=t)
        e = eager.get(f"BM_Prefill/llama_1b_{T}")
        if e is not None:
            em = ms_of(e) if ok(e) else NAN
            row(f"  prefill {T} with FMA attention (IA_CUDA_ATTENTION=fma), ms", em, NAN, higher_is_better=False,
                f_ours=flops / (em / 1e3) / gemm)

    # Encoders: ours bf16 (the loader has no f16 yet), PyTorch fp16; the same tensor-core rate.
    for model, hf_key, need in (("bert_base", "bert_base_fp16", 2.0), ("minilm_l6", "minilm_l6_fp16", 1.5)):
        h = hf.get(hf_key, {})
        for suffix, B, T, label in (("_b1_t16", 1, 16, "1x16"), ("", 32, 128, "32x128"),
                                    ("_b256", 256, 128, "256x128")):
            r = enc.get(f"BM_Encoder/{model}_bf16{suffix}")
            ours_ms = ms_of(r) if ok(r) else NAN
            flops = r.get("FLOP/s", NAN) * ours_ms / 1e3 if ok(r) else NAN  # per batch
            torch_ms = get(h, f"b{B}_T{T}_ms")
            fo, ft = flops / (ours_ms / 1e3) / gemm, flops / (torch_ms / 1e3) / gemm
            if B == 1:
                t = target(ours_ms < 1 if fin(ours_ms) else None, "< 1 ms")
                row(f"{model} {label}, ms", ours_ms, torch_ms, higher_is_better=False, f_ours=fo, f_torch=ft,
                    target=t, digits=3)
                continue
            ours_s = r.get("seq/s", NAN) if ok(r) else NAN
            torch_s = get(h, f"b{B}_T{T}_seq_s")
            t = ""
            if B == 256:
                t = target(ours_s / torch_s >= need if fin(ours_s) and fin(torch_s) else None, f">= {need}x torch")
            row(f"{model} {label}, seq/s", ours_s, torch_s, f_ours=fo, f_torch=ft, target=t)
        r = enc.get(f"BM_Encoder/{model}_bf16_mixed")
        if r is not None:
            fo = r.get("FLOP/s", NAN) / gemm if ok(r) else NAN
            row(f"  {model} 32 mixed 16..128 packed, seq/s", r.get("seq/s", NAN) if ok(r) else NAN, NAN, f_ours=fo)

    # The decoder's weight shapes alone, against the copy bandwidth: where decode time goes.
    for n, r in dec.items():
        if n.startswith("BM_Gemv/") and ok(r):
            gbs = r.get("GB/s", NAN)
            row(f"  GEMV {n.split('/', 1)[1]}, GB/s", gbs, NAN, f_ours=gbs * 1e9 / copy_bw)

    print(f"GPU: ours {dec_ctx.get('ia_device') or enc_ctx.get('ia_device') or '?'}; PyTorch {hf.get('device', '?')} "
          f"(torch {hf.get('torch', '?')}, transformers {hf.get('transformers', '?')}, "
          f"attention {llama.get('attn_impl', '?')})")
    print(f"ceilings for the fractions: copy {fmt(copy_bw / 1e9)} GB/s, bf16 GEMM {fmt(gemm / 1e12)} TFLOP/s "
          "(the higher of ours and PyTorch's)")
    head = ("metric", "ours", "PyTorch", "speed-up", "ours/ceil", "torch/ceil", "issue 12 target")
    widths = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
    line = lambda cells: "  ".join(  # noqa: E731
        str(c).ljust(w) if i in (0, len(head) - 1) else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(head).rstrip())
    print("  ".join("-" * w for w in widths))
    for rr in rows:
        print(line(rr).rstrip())

    for name, r in list(dec.items()) + list(enc.items()):
        if r.get("error_occurred"):
            notes.append(f"{name}: failed: {r.get('error_message', '')[:300]}")
    for e in hf.get("errors", []):
        notes.append(f"PyTorch: {e}")
    if "compiled_error" in llama:
        notes.append(f"PyTorch torch.compile: {llama['compiled_error']}")
    if any(k.startswith("generate_") and "_new64_" in k for k in llama):
        notes.append("PyTorch ran with --quick: 64 new tokens per generate, and fewer cases")
    if "compile_warmup_s" in llama:
        notes.append(f"PyTorch torch.compile warm-up took {llama['compile_warmup_s']:.0f} s")
    if notes:
        print("notes:")
        for n in notes:
            print(f"  {n}")


if __name__ == "__main__":
    main()
