#!/usr/bin/env bash
# The load run behind docs/BENCHMARKS.md's web service figures: the seeds'
# claim (1,000 -> 10,000 requests/s, 10 ms -> 1 ms) tested over HTTP with
# wrk, GET /users/{id} uncached and cached, in one run on this machine.
#
# Starts its own redis-server and examples/web_service.rs on free ports,
# with USERS users and ORDERS orders (default 1000 and 200000), and stops
# them at the end. Installs wrk with apt-get when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "installing wrk (apt-get)"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
command -v redis-server >/dev/null || { echo "needs redis-server (scripts/test.sh installs it)" >&2; exit 1; }

users=${USERS:-1000}
orders=${ORDERS:-200000}
seconds=${SECONDS_PER_RUN:-15}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
http_port=$(free_port)
workdir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$workdir"; }
trap cleanup EXIT

cargo build --release --example web_service
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$workdir" --logfile "$workdir/redis.log" &
pids+=($!)
ADDR="127.0.0.1:$http_port" REDIS_URL="redis://127.0.0.1:$redis_port" \
    DB_PATH="$workdir/web.db" USERS="$users" ORDERS="$orders" \
    target/release/examples/web_service >"$workdir/service.log" 2>&1 &
pids+=($!)
until grep -q listening "$workdir/service.log" 2>/dev/null; do sleep 0.2; done
url="http://127.0.0.1:$http_port"

run() { # name connections suffix
    echo "== $1: $2 connections"
    wrk -t "$(( $2 < 2 ? 1 : 2 ))" -c "$2" -d "${seconds}s" --latency \
        -s scripts/users.lua "$url" -- "$3" "$users" | grep -E "Requests/sec|Latency |50%|99%|Non-2xx"
}

echo "machine: $(nproc) CPUs, $(uname -sr); data: $users users, $orders orders"
# Warm the cache: every user once.
for id in $(seq 1 "$users"); do curl -s -o /dev/null "$url/users/$id"; done
run "uncached GET /users/{id}/uncached" 1 /uncached
run "cached GET /users/{id}" 1 ""
run "uncached GET /users/{id}/uncached" 64 /uncached
run "cached GET /users/{id}" 64 ""
