# Sourced by scripts that need `ipfs-accelerate serve` running for a while (the serving benchmark,
# its ctest smoke check): serve on a free loopback port with a home of its own (it must not touch
# the user's blockstore), stopped with SIGTERM and its home removed when the script exits.
#   start_serve CLI MODEL_DIR LOG TIMEOUT_S   sets serve_pid and serve_url; on failure prints the
#                                              log and exits 2
#   stop_serve                                 SIGTERM and wait (also run at exit)
serve_pid=""
serve_url=""
serve_home=$(mktemp -d)

stop_serve() {
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  serve_pid=""
}
trap 'stop_serve; rm -rf "$serve_home"' EXIT

start_serve() {
  local cli=$1 model=$2 log=$3 timeout=$4 i
  IPFS_ACCELERATE_HOME="$serve_home" "$cli" serve -m "$model" --port 0 --device "${DEVICE:-cpu}" >"$log" 2>&1 &
  serve_pid=$!
  for ((i = 0; i < timeout * 10; ++i)); do
    serve_url=$(grep -o 'ready on http://127\.0\.0\.1:[0-9]*' "$log" | head -1 | sed 's/^ready on //' || true)
    [ -n "$serve_url" ] && return 0
    if ! kill -0 "$serve_pid" 2>/dev/null; then
      echo "serve exited:" >&2
      cat "$log" >&2
      exit 2
    fi
    sleep 0.1
  done
  echo "serve not ready after $timeout s:" >&2
  cat "$log" >&2
  exit 2
}
