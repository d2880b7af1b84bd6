#!/usr/bin/env bash
# Every check CI runs, in one command:
#   1. installs what the tests need (redis-server, redis-cli, openssl) when it
#      is missing, with apt-get on Debian/Ubuntu; elsewhere says what to install;
#   2. cargo fmt --check;
#   3. cargo clippy on every target, warnings denied;
#   4. every test: unit, integration (against redis-server processes the tests
#      start themselves), trybuild UI (beside the others), doc tests, the TLS
#      tests;
#   5. the docs (warnings denied) and the two published crates' packages.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    if command -v apt-get >/dev/null; then
        sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        echo "installing ${missing[*]} (apt-get)"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "missing: ${missing[*]}. Install Redis and OpenSSL with your package manager," >&2
        echo "e.g. macOS: brew install redis openssl; Fedora: sudo dnf install redis openssl" >&2
        exit 1
    fi
fi

if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

set -x
cargo fmt --all -- --check
# Every feature on, then none: between them, every `cfg` branch is linted.
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo clippy -p cache-runtime --no-default-features -- -D warnings

# Every test is built first. The compile-time tests (trybuild: projects of
# their own to compile, CPU-bound) then run beside the others (which mostly
# wait on the redis-server processes they start), from their binary: a
# second cargo would wait for the first's lock on target/.
cargo test --workspace --all-features --no-run
ui=$(cargo test -p cache-ui-tests --all-features --test ui --no-run --message-format=json |
    grep -o '"executable":"[^"]*/ui-[^"]*"' | cut -d'"' -f4)
ui_log=$(mktemp)
(cd ui-tests && "$ui") >"$ui_log" 2>&1 &
ui_pid=$!
trap 'kill "$ui_pid" 2>/dev/null || true; rm -f "$ui_log"' EXIT
cargo test --workspace --all-features -- --skip compile_time_behaviour

# While the compile-time tests finish:
# - the default build (no TLS) has checks of its own: a `rediss://` URL must
#   say which feature it needs;
# - what docs.rs and crates.io would get: the docs without a warning, and
#   both crates packaged and built from their packages.
cargo test -p cache-runtime --lib
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features -p cache-runtime -p cache-macros
cargo package -p cache-macros -p cache-runtime --allow-dirty

ui_status=0
wait "$ui_pid" || ui_status=$?
cat "$ui_log"
if [ "$ui_status" -ne 0 ]; then
    echo "the compile-time tests (ui-tests/tests/ui.rs) failed" >&2
    exit "$ui_status"
fi
