#!/usr/bin/env python3
"""Prints each encoder's FLOP/s as a fraction of the large GEMM rate of the same dtype, same run."""
import json
import sys

runs = json.load(open(sys.argv[1]))["benchmarks"]
gemm = {r["name"].split("/")[0].split("_")[-1]: r["FLOP/s"] for r in runs if r["name"].startswith("BM_LargeGemm")}
print(f"{'benchmark':36} {'ms':>9} {'seq/s':>9} {'GFLOP/s':>9} {'of GEMM':>8}")
for r in runs:
    name = r["name"].split("/")[0]
    if name.startswith("BM_LargeGemm"):
        print(f"{name:36} {r['real_time']:9.1f} {'':>9} {r['FLOP/s'] / 1e9:9.1f} {'100%':>8}")
        continue
    dtype = name.split("_")[-1]
    frac = r["FLOP/s"] / gemm[dtype] if dtype in gemm else float("nan")
    print(f"{name:36} {r['real_time']:9.1f} {r['seq/s']:9.1f} {r['FLOP/s'] / 1e9:9.1f} {frac * 100:7.0f}%")
