#!/usr/bin/env bash
# Measures what an operator sees when `serve` starts on a database: time to the first HTTP
# answer, to the hot window in memory (`X-CoreScope-Load-Status: ready`), to the terminal
# state of the startup load (`/api/perf` packetStore.backgroundLoadComplete), and the
# resident memory (VmRSS, peak VmHWM) at the end.
#
#   cargo build --release -p meshcore-analyzer
#   target/release/meshcore-analyzer gen-db --out /tmp/bench.db --transmissions 325000 --days 7
#   scripts/bench-startup.sh /tmp/bench.db [port]
set -euo pipefail
db=${1:?usage: bench-startup.sh DATABASE [PORT]}
port=${2:-3199}
bin="$(dirname "$0")/../target/release/meshcore-analyzer"
empty_config_dir=$(mktemp -d)
# No MQTT: a broker listening on the default port must not write into the measured file.
echo '{"mqttSources":[{"name":"none","broker":"mqtt://127.0.0.1:9"}],"embeddedBroker":{"enabled":false}}' \
    > "$empty_config_dir/config.json"
now() { date +%s.%N; }
start=$(now)
MESHCORE_LOG=warn "$bin" serve --db "$db" --port "$port" --bind 127.0.0.1 \
    --config "$empty_config_dir" >/dev/null 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; rm -r "$empty_config_dir"' EXIT
first="" ready="" done_="" perf=""
for _ in $(seq 1 6000); do
    header=$(curl -s -o /dev/null -D - "localhost:$port/api/healthz" 2>/dev/null \
        | tr -d '\r' | grep -i '^x-corescope-load-status' || true)
    t=$(now)
    [ -z "$first" ] && [ -n "$header" ] && first=$(echo "$t - $start" | bc)
    [ -z "$ready" ] && [[ "$header" == *ready* ]] && ready=$(echo "$t - $start" | bc)
    if [ -n "$ready" ]; then
        perf=$(curl -s "localhost:$port/api/perf")
        if [[ "$perf" == *'"backgroundLoadComplete":true'* ]]; then
            done_=$(echo "$t - $start" | bc)
            break
        fi
    fi
    sleep 0.05
done
memory=$(grep -E 'VmRSS|VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ' ')
echo "first answer ${first}s, hot window ready ${ready}s, load terminal ${done_}s; $memory"
echo "packetStore: $(echo "$perf" | python3 -c 'import sys, json; print(json.dumps(json.load(sys.stdin)["packetStore"]))')"
