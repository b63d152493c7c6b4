#!/usr/bin/env bash
# HTTP load benchmark on a database: starts `serve --follow` (read-only, no MQTT) on it,
# measures packet list/detail latency while the background fill runs, then every endpoint
# once the startup load is complete, and the packet list's requests/s.
#
#   cargo build --release -p meshcore-analyzer
#   cargo build --release -p analyzer-server --example api_load
#   scripts/bench-api.sh /tmp/bench.db [port]
set -euo pipefail
db=${1:?usage: bench-api.sh DATABASE [PORT]}
port=${2:-3198}
root="$(dirname "$0")/.."
bin="$root/target/release/meshcore-analyzer"
load="$root/target/release/examples/api_load"
empty_config_dir=$(mktemp -d)
MESHCORE_LOG=warn "$bin" serve --follow --db "$db" --port "$port" --bind 127.0.0.1 \
    --config "$empty_config_dir" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rmdir "$empty_config_dir"' EXIT
url="http://127.0.0.1:$port"
until curl -s -o /dev/null -D - "$url/api/healthz" | grep -qi 'load-status: ready'; do sleep 0.05; done
echo "== while the background fill runs: $(curl -s "$url/api/perf" | python3 -c 'import sys,json; p=json.load(sys.stdin)["packetStore"]; print(p["totalLoaded"], "transmissions loaded, complete:", p["backgroundLoadComplete"])')"
"$load" --url "$url" --only-packets --requests 300 --seconds 2
until curl -s "$url/api/perf" | grep -q '"backgroundLoadComplete":true'; do sleep 0.2; done
echo "== after the load: $(curl -s "$url/api/perf" | python3 -c 'import sys,json; p=json.load(sys.stdin)["packetStore"]; print(p["totalLoaded"], "transmissions,", p["totalObservations"], "observations")')"
"$load" --url "$url" --requests 200 --seconds 5
echo "server memory: $(grep -E 'VmRSS|VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ' ')"
