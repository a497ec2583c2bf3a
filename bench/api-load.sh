#!/usr/bin/env bash
# API throughput on loopback (issue #9): `tracehound demo --serve` (release build), then wrk
# (Debian package) for a bounded time against address lookups and single-address screening,
# rotating over every address the demo's trace and labels name. Prints wrk's figures and the
# server's peak RSS.
#   bench/api-load.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
conns=${2:-32}
bin=${TRACEHOUND_BIN:-target/release/tracehound}
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk"; exit 1; }
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null; sleep 0.5; rm -rf "$work"; }
trap cleanup EXIT
"$bin" demo --out "$work/demo" --serve --bind 127.0.0.1:0 >"$work/log" 2>&1 &
pid=$!
url=
for _ in $(seq 1 120); do
  url=$(grep -o 'on http://127\.0\.0\.1:[0-9]*' "$work/log" | head -1 | cut -c4- || true)
  [ -n "$url" ] && break
  sleep 0.5
done
[ -n "$url" ] || { tail "$work/log"; exit 1; }
# Every (chain, address) of the demo's labels that the store knows.
python3 - "$work/demo/cross-chain/labels.csv" "$work/paths.lua" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
with open(sys.argv[2], "w") as f:
    f.write("addresses = {\n")
    for r in rows:
        f.write('  "%s/%s",\n' % (r["chain"], r["address"]))
    f.write("}\n")
PY
n=$(grep -c '",' "$work/paths.lua")
for kind in addresses screen; do
  cat "$work/paths.lua" > "$work/$kind.lua"
  cat >>"$work/$kind.lua" <<LUA
local i = 0
request = function()
  i = i % #addresses + 1
  return wrk.format("GET", "/api/v1/$kind/" .. addresses[i] .. "?limit=20")
end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("$kind: %d requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, %d errors or non-2xx\\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors))
end
LUA
  echo "== GET /api/v1/$kind/{chain}/{address} over $n addresses, $conns connections, ${secs}s"
  wrk -t2 -c"$conns" -d"${secs}s" -s "$work/$kind.lua" "$url" | tail -1
done
echo "server peak RSS: $(grep VmHWM /proc/$pid/status 2>/dev/null || ps -o rss= -p "$(pgrep -P $pid | head -1)")"
