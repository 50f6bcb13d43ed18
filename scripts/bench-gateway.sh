#!/usr/bin/env bash
# Gateway benchmark (issue 17, "Performance"): streamed chat requests at concurrency 1, 100 and
# 1,000 through `ipfs-accelerate serve --providers FILE` to a loopback fake OpenAI-compatible
# provider (bench/fake_openai_provider.cpp: max_tokens tokens, one every TOKEN_DELAY_MS), and the
# same levels sent to the fake directly as the baseline. bench_serve_load reports per level
# requests/s, output tokens/s, TTFT and ITL percentiles, errors, and the CPU seconds (user +
# system) and peak RSS of the process it measured (--server-pid: the gateway, or the fake in the
# baseline run); the summary puts the gateway beside the baseline.
#
#   scripts/bench-gateway.sh [BUILD_DIR] [-- extra bench_serve_load options]
#
# Environment (defaults in brackets):
#   CONCURRENCY [1,100,1000]  OUTPUT_TOKENS [32]  PROMPT_TOKENS [64]  TOKEN_DELAY_MS [20]
#   ROUNDS [1]  MIN_REQUESTS [20]   requests per level = max(ROUNDS x concurrency, MIN_REQUESTS)
#   OUT                       where gateway.json, direct.json and the logs go [BUILD_DIR/bench-results]
#
# Everything listens on 127.0.0.1 on free ports; the fake, the gateway and the temporary folder
# are removed on any exit. Exit status: 0 no request failed, 1 some did, 2 a setup failure.
set -euo pipefail
build=build
if [ $# -gt 0 ] && [ "$1" != "--" ]; then
  build=$1
  shift
fi
[ "${1:-}" = "--" ] && shift
cli="$build/bin/ipfs-accelerate"
load="$build/bin/bench_serve_load"
fake="$build/bin/fake_openai_provider"
for b in "$cli" "$load" "$fake"; do
  [ -x "$b" ] || {
    echo "bench-gateway: $b not built (cmake --build $build --target ipfs-accelerate bench_serve_load fake_openai_provider)" >&2
    exit 2
  }
done

concurrency=${CONCURRENCY:-1,100,1000}
max_concurrency=$(tr ',' '\n' <<<"$concurrency" | sort -n | tail -1)
out=${OUT:-$build/bench-results}
mkdir -p "$out"
tmp=$(mktemp -d)
fake_pid=""
gateway_pid=""
load_pid=""

stop() {  # PID: SIGTERM, then wait for it
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
# shellcheck disable=SC2317 # (run by the EXIT trap)
cleanup() {
  stop "$load_pid"
  stop "$gateway_pid"
  stop "$fake_pid"
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # through the EXIT trap

# Runs bench_serve_load in the background and waits for it: a signal to this script is then
# handled at once (bash defers traps while a foreground command runs). Sets rc.
run_load() {
  "$load" "$@" &
  load_pid=$!
  rc=0
  wait "$load_pid" || rc=$?
  load_pid=""
}

# Waits up to 20 s for PATTERN in LOG (the process PID writes it once it accepts); prints the URL.
await_url() {
  local pid=$1 log=$2 pattern=$3 i url
  for ((i = 0; i < 200; ++i)); do
    url=$(grep -so "$pattern http://127\.0\.0\.1:[0-9]*" "$log" | head -1 | grep -o 'http://.*' || true)
    if [ -n "$url" ]; then
      echo "$url"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench-gateway: not ready ($log):" >&2
  cat "$log" >&2
  return 1
}

key=sk-bench-$$
"$fake" --port 0 --token-delay-ms "${TOKEN_DELAY_MS:-20}" --threads $((max_concurrency + 64)) --api-key "$key" \
  >"$tmp/fake.log" 2>&1 &
fake_pid=$!
fake_url=$(await_url "$fake_pid" "$tmp/fake.log" "listening on") || exit 2

# One routed name with one remote deployment; the provider's own concurrency limit (16 by
# default) and queue are opened to the benchmark's concurrency, and nothing is retried.
cat >"$tmp/providers.json" <<EOF
{
  "providers": {
    "fake": {"type": "openai", "base_url": "$fake_url/v1", "keys": [{"env": "BENCH_FAKE_KEY"}],
             "max_concurrency": ${PROVIDER_MAX_CONCURRENCY:-$max_concurrency}, "max_queue": $max_concurrency,
             "max_retries": 0}
  },
  "models": {"bench-chat": [{"provider": "fake", "model": "fake-model"}]}
}
EOF
BENCH_FAKE_KEY=$key IPFS_ACCELERATE_HOME="$tmp/home" "$cli" serve --providers "$tmp/providers.json" --port 0 \
  --no-ipfs-gateway ${MAX_CONNECTIONS:+--max-connections "$MAX_CONNECTIONS"} >"$tmp/serve.log" 2>&1 &
gateway_pid=$!
gateway_url=$(await_url "$gateway_pid" "$tmp/serve.log" "ready on") || exit 2

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores; open files: $(ulimit -Sn) (hard $(ulimit -Hn))"
echo "fake provider: $fake_url (pid $fake_pid, a token every ${TOKEN_DELAY_MS:-20} ms); gateway: $gateway_url (pid $gateway_pid)"
common=(--concurrency "$concurrency" --word-prompts --prompt-tokens "${PROMPT_TOKENS:-64}"
  --output-tokens "${OUTPUT_TOKENS:-32}" --rounds "${ROUNDS:-1}" --min-requests "${MIN_REQUESTS:-20}"
  --level-timeout 300 --read-timeout 60)
echo "== through the gateway"
run_load --url "$gateway_url" --model bench-chat --server-pid "$gateway_pid" --json "$out/gateway.json" \
  "${common[@]}" "$@"
gateway_rc=$rc
stop "$gateway_pid"
gateway_pid=""
cp "$tmp/serve.log" "$out/gateway-serve.log"
[ "$gateway_rc" -le 1 ] || exit "$gateway_rc"
echo "== direct to the fake provider (baseline)"
OPENAI_API_KEY=$key run_load --url "$fake_url" --model fake-model --server-pid "$fake_pid" --json "$out/direct.json" \
  "${common[@]}" "$@"
[ "$rc" -le 1 ] || exit "$rc"
[ "$gateway_rc" -eq 0 ] || rc=$gateway_rc

python3 - "$out/gateway.json" "$out/direct.json" <<'EOF'
import json, sys
gw, direct = (json.load(open(p)) for p in sys.argv[1:3])
base = {l["concurrency"]: l for l in direct["levels"]}
print(f"\ngateway vs direct, {gw['output_tokens']} output tokens per request (ratios: gateway / direct)")
print(f"{'conc':>5} {'reqs':>5} {'err':>4} {'req/s':>8} {'x':>5} {'tok/s':>8} {'x':>5} {'TTFT p50':>9} {'TTFT p99':>9}"
      f" {'direct p50':>10} {'direct p99':>10} {'gw CPU s':>8} {'ms/req':>7} {'gw RSS MiB':>10} {'fake CPU s':>10}")
for l in gw["levels"]:
    b = base.get(l["concurrency"])
    p, bp = l.get("server_process", {}), (b or {}).get("server_process", {})
    ratio = lambda k: f"{l[k] / b[k]:.2f}" if b and b[k] else "-"
    ms = lambda s, k: "-" if s[k] is None else f"{s[k]:.1f}"
    print(f"{l['concurrency']:>5} {l['requests_sent']:>5} {l['errors'] + (b['errors'] if b else 0):>4}"
          f" {l['requests_per_s']:>8.2f} {ratio('requests_per_s'):>5} {l['output_tokens_per_s']:>8.1f}"
          f" {ratio('output_tokens_per_s'):>5} {ms(l['ttft_ms'], 'p50'):>9} {ms(l['ttft_ms'], 'p99'):>9}"
          f" {ms(b['ttft_ms'], 'p50') if b else '-':>10} {ms(b['ttft_ms'], 'p99') if b else '-':>10}"
          f" {p.get('cpu_s', 0):>8.2f} {p.get('cpu_ms_per_request') or 0:>7.2f} {p.get('peak_rss_mib', 0):>10.1f}"
          f" {bp.get('cpu_s', 0):>10.2f}")
print("(err: failed requests of both runs; gw CPU: the gateway's user + system seconds during the level;"
      " fake CPU: the fake's in the direct run)")
EOF
echo "reports: $out/gateway.json $out/direct.json"
exit "$rc"
