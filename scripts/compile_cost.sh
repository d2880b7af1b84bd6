#!/usr/bin/env bash
# What caching costs a build: a crate of N `async fn`s (two arguments, a
# small struct returned) built in debug, its dependencies built first, with
# each function
#   - uncached,
#   - under `#[cache_result(expire = 60)]`,
#   - under the `cached` crate's `#[cached(ttl_secs = 60)]`.
# Each crate also runs every function (the code of a future nobody polls
# is never generated). Prints the seconds each build of the crate alone takes (best of
# RUNS) and the cost per function over the uncached build.
# docs/BENCHMARKS.md has the figures.
#
#   scripts/compile_cost.sh [N] [RUNS] [same|distinct]
#
# Default: 200 functions, 3 runs, one struct returned by every function
# (`same`); `distinct` gives each function a struct of its own, as a
# service's functions mostly have.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
functions=${1:-200}
runs=${2:-3}
returns=${3:-same}
work="$repo/target/compile-cost"
mkdir -p "$work"

cat > "$work/Cargo.toml" <<EOF
[workspace]
members = ["uncached", "attribute", "with-cached"]
resolver = "2"

[workspace.dependencies]
cache-runtime = { path = "$repo/cache-runtime" }
cached = { version = "4.1", features = ["async"] }
serde = { version = "1", features = ["derive"] }
tokio = { version = "1", features = ["rt", "macros", "time"] }
EOF

# crate <name> <dependency lines> <prelude> <attribute line>
crate() {
    local name=$1 deps=$2 prelude=$3 attribute=$4
    mkdir -p "$work/$name/src"
    printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\nserde = { workspace = true }\ntokio = { workspace = true }\n%s\n' \
        "$name" "$deps" > "$work/$name/Cargo.toml"
    {
        echo "$prelude"
        for i in $(seq 1 "$functions"); do
            local item=Item
            if [ "$returns" = distinct ] || [ "$i" = 1 ]; then
                if [ "$returns" = distinct ]; then item="Item$i"; fi
                echo "#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]"
                echo "pub struct $item { pub id: u64, pub name: String }"
            fi
            echo "$attribute"
            echo "pub async fn f$i(id: u64, name: String) -> $item { $item { id: id + $i, name } }"
        done
        # Run, as a service does: the code of a future nobody polls is
        # never generated.
        echo "pub async fn call_all() -> u64 {"
        echo "    let mut total = 0;"
        for i in $(seq 1 "$functions"); do
            echo "    total += f$i(1, String::new()).await.id;"
        done
        echo "    total"
        echo "}"
        echo "pub fn run_all() -> u64 {"
        echo "    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();"
        echo "    runtime.expect(\"a runtime\").block_on(call_all())"
        echo "}"
    } > "$work/$name/src/lib.rs"
}

crate uncached "" "" ""
crate attribute "cache-runtime = { workspace = true }" "use cache_runtime::cache_result;" "#[cache_result(expire = 60)]"
crate with-cached "cached = { workspace = true }" "use cached::proc_macro::cached;" "#[cached(ttl_secs = 60)]"

cd "$work"
cargo build --quiet --workspace 2>&1
seconds() {
    local best=""
    for _ in $(seq 1 "$runs"); do
        # From scratch, as a first build or CI does (after a touch alone,
        # incremental compilation would reuse most of the last build).
        cargo clean --quiet -p "$1"
        local start end took
        start=$(date +%s.%N)
        cargo build --quiet -p "$1"
        end=$(date +%s.%N)
        took=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$took < $best" | bc)" = 1 ]; then best=$took; fi
    done
    echo "$best"
}
uncached=$(seconds uncached)
attribute=$(seconds attribute)
cached=$(seconds with-cached)
per() { echo "scale=1; ($1 - $uncached) * 1000 / $functions" | bc; }
echo "$functions functions ($returns return types), debug build of the crate alone from scratch, best of $runs:"
printf '  uncached                      %6.2f s\n' "$uncached"
printf '  #[cache_result(expire = 60)]  %6.2f s  %6s ms per function\n' "$attribute" "$(per "$attribute")"
printf '  #[cached(ttl_secs = 60)]      %6.2f s  %6s ms per function\n' "$cached" "$(per "$cached")"
