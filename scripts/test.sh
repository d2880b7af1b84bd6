#!/usr/bin/env bash
# Every check CI runs, in one command:
#   1. installs what the tests need (redis-server, redis-cli, openssl) when it
#      is missing, with apt-get on Debian/Ubuntu; elsewhere says what to install;
#   2. cargo fmt --check;
#   3. cargo clippy on every target, warnings denied;
#   4. every test: unit, integration (against redis-server processes the tests
#      start themselves), trybuild UI, doc tests, the TLS tests.
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
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace --all-features
# The default build (no TLS) has checks of its own: a `rediss://` URL must say
# which feature it needs.
cargo test -p cache-runtime --lib
