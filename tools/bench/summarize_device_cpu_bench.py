#!/usr/bin/env python3
"""Summarises the JSON files tools/bench/device_cpu_bench.sh writes: encoder seq/s of this
build, the base build and PyTorch per thread count, and decode/prefill tokens/s per run."""
import glob, json, os, sys
out = sys.argv[1]
def load(p):
    try:
        return json.load(open(p))
    except Exception:
        return None
for t in (2, 16):
    tags = sorted({os.path.basename(p).split("_t")[0][5:] for p in glob.glob(f"{out}/gemm_*_t{t}.json")},
                  key=lambda v: (v != "new", v != "base", v))
    runs = {v: load(f"{out}/gemm_{v}_t{t}.json") for v in tags}
    if any(runs.values()):
        extra = [v for v in tags if v not in ("new", "base")]
        print(f"linear GFLOP/s, {t} threads: {'case':34} {'new':>8} {'base':>8} {'new/base':>8} " +
              " ".join(f"{v:>10}" for v in extra))
        names = []
        for j in runs.values():
            for r in (j or {}).get("benchmarks", []):
                if r["name"] not in names:
                    names.append(r["name"])
        for n in names:
            got = {}
            for v, j in runs.items():
                for r in (j or {}).get("benchmarks", []):
                    if r["name"] == n and "GFLOP/s" in r:
                        got[v] = r["GFLOP/s"]
            nv, bv = got.get("new", float("nan")), got.get("base", float("nan"))
            print(f"  {n:50} {nv:8.0f} {bv:8.0f} {nv / bv if bv == bv and bv else float('nan'):8.2f} " +
                  " ".join(f"{got.get(v, float('nan')):10.0f}" for v in extra))
for t in (16, 2):
    torch = load(f"{out}/encoder_torch_t{t}.json")
    rows = {}
    extra = sorted({os.path.basename(p)[len("encoder_"):-len(f"_t{t}.json")]
                    for p in glob.glob(f"{out}/encoder_*_t{t}.json")} - {"new", "base", "torch"})
    for v in ["new", "base"] + extra:
        j = load(f"{out}/encoder_{v}_t{t}.json")
        if not j:
            continue
        for r in j["benchmarks"]:
            if r["name"].startswith("BM_LargeGemm"):
                print(f"{t} threads, {v}: large GEMM {r['name'].split('/')[1]} {r['FLOP/s'] / 1e9:.0f} GFLOP/s")
                gemm = rows.setdefault("_gemm", {})
                gemm[r["name"].split("/")[1]] = r["FLOP/s"]
                continue
            name = r["name"].split("/")[1]
            if "seq/s" not in r:
                continue
            rows.setdefault(name, {})[v] = r["seq/s"]
            if v == "new" and "FLOP/s" in r:
                rows[name]["flops"] = r["FLOP/s"]
    if rows:
        print(f"encoder seq/s, {t} threads (torch {torch and torch['torch']}, transformers {torch and torch['transformers']})")
        gemm = rows.pop("_gemm", {})
        print(f"{'case':24} {'new':>8} {'base':>8} {'torch':>8} {'new/torch':>9} {'of GEMM':>8} " +
              " ".join(f"{v + '/torch':>14}" for v in extra))
        for name, r in rows.items():
            tv = torch.get(name) if torch else None
            ratio = r['new'] / tv if tv and 'new' in r else float('nan')
            g = gemm.get("bf16" if "bf16" in name else "f32")
            frac = r["flops"] / g if g and "flops" in r else float("nan")
            print(f"{name:24} {r.get('new', float('nan')):8.1f} {r.get('base', float('nan')):8.1f} "
                  f"{tv or float('nan'):8.1f} {ratio:9.2f} {frac * 100:7.0f}% " +
                  " ".join(f"{r.get(v, float('nan')):6.1f} {r.get(v, float('nan')) / tv if tv and v in r else float('nan'):6.2f}x"
                           for v in extra))
for p in sorted(glob.glob(f"{out}/decode_*_r*.json")):
    j = load(p)
    if not j:
        continue
    cells = []
    for r in j["benchmarks"]:
        parts = r["name"].split("/")
        n = parts[0]
        if "tokens/s" in r:
            cells.append(f"{parts[1]}={r['tokens/s']:.1f}")
        elif n == "BM_MemCopy" and "GB/s" in r:
            cells.append(f"copy={r['GB/s']:.0f}GB/s")
    print(os.path.basename(p), " ".join(cells))
