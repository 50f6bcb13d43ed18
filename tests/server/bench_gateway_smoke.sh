#!/usr/bin/env bash
# ctest's smoke check of the gateway benchmark (scripts/bench-gateway.sh): the fake provider, the
# gateway and bench_serve_load at concurrency 1 and 8 with short streams; every request of both
# runs must complete, and each level must report the measured process's CPU time and peak RSS.
#   bench_gateway_smoke.sh BUILD_DIR
set -euo pipefail
build=$1
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
CONCURRENCY=1,8 OUTPUT_TOKENS=4 PROMPT_TOKENS=8 TOKEN_DELAY_MS=2 MIN_REQUESTS=4 OUT="$out" \
  bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/bench-gateway.sh" "$build" >"$out/run.log" 2>&1 || {
  cat "$out/run.log" >&2
  echo "bench_gateway_smoke: the benchmark failed" >&2
  exit 1
}
python3 - "$out/gateway.json" "$out/direct.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    report = json.load(open(path))
    assert [l["concurrency"] for l in report["levels"]] == [1, 8], path
    for l in report["levels"]:
        assert l["requests_sent"] == l["completed"] == max(l["concurrency"], 4) and l["errors"] == 0, (path, l)
        assert l["output_tokens"] == 4 * l["completed"], (path, l)
        p = l["server_process"]
        # (a short level can take less than a clock tick of CPU: 0 s)
        assert p["cpu_s"] >= 0 and p["peak_rss_mib"] > 1 and p["threads_after"] >= 1, (path, p)
print("bench_gateway_smoke: OK")
PY
