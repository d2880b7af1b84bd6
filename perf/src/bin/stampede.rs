//! Prints docs/BENCHMARKS.md's stampede figures, against a redis-server it
//! starts itself:
//!
//! 1. a cold key called by 1, 16, 256 and 1024 concurrent callers, in one
//!    process and in four, with no protection, in-process coalescing (the
//!    default) and `lock = true`: how many times the function runs;
//! 2. a hot key under continuous load across several TTLs, with and
//!    without `early_refresh`: misses, callers that waited, runs per period.
//!
//! ```sh
//! cargo run --release -p cache-perf --bin stampede
//! ```
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it).

use cache_test_support as support;

use std::time::{Duration, Instant};

use cache_runtime::{cache_result, function, Cache, Config, FunctionStats};
use support::processes::{self, Protection};
use support::RedisServer;

fn main() {
    if processes::run_worker_if_asked() {
        return;
    }
    let server = RedisServer::start();
    cold_keys(&server);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(hot_key(&server));
}

fn cold_keys(server: &RedisServer) {
    println!("Cold key: runs of a 500 ms function, all callers at once\n");
    println!("| callers per process | processes | no protection | coalescing (default) | `lock = true` |");
    println!("| --- | --- | --- | --- | --- |");
    let mut key_id = 1000;
    for callers in [1, 16, 256, 1024] {
        for processes in [1, 4] {
            let mut cells = Vec::new();
            for protection in [Protection::None, Protection::Coalesce, Protection::Lock] {
                key_id += 1;
                let tally =
                    processes::cold_key(&server.url(), processes, callers, protection, key_id);
                assert_eq!(tally.wrong, 0, "wrong results: {tally:?}");
                cells.push(tally.runs.to_string());
            }
            println!("| {callers} | {processes} | {} |", cells.join(" | "));
        }
    }
}

/// 20 ms of work behind a 2 s TTL.
const WORK: Duration = Duration::from_millis(20);

#[cache_result(expire = 2, store = cache, skip(cache))]
async fn plain_hot(cache: &Cache, id: u64) -> u64 {
    tokio::time::sleep(WORK).await;
    id
}

#[cache_result(expire = 2, store = cache, skip(cache), early_refresh = true)]
async fn refreshed_hot(cache: &Cache, id: u64) -> u64 {
    tokio::time::sleep(WORK).await;
    id
}

async fn hot_key(server: &RedisServer) {
    println!("\nHot key: 8 tasks calling one key for 10 s (5 TTLs of 2 s), 20 ms function\n");
    println!("| mode | calls | runs | misses after warm-up | refreshes | calls that waited for a run | slowest call |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    let cache = Config::redis(server.url()).build().unwrap();
    for early in [false, true] {
        let load = run_load(&cache, early).await;
        let stats: FunctionStats = match early {
            false => function!(plain_hot).stats(),
            true => function!(refreshed_hot).stats(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.1} ms |",
            if early {
                "`early_refresh = true`"
            } else {
                "plain TTL"
            },
            load.calls,
            stats.executions,
            stats.misses.saturating_sub(1),
            stats.refreshes,
            load.waited,
            load.slowest.as_secs_f64() * 1000.0,
        );
    }
    println!(
        "\n\"Waited\": calls after the cold start slower than half the function's time, \
         refreshing callers included (each refresh is one caller running the function in-line)."
    );
}

struct Load {
    calls: u64,
    waited: u64,
    slowest: Duration,
}

async fn run_load(cache: &Cache, early: bool) -> Load {
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let (mut calls, mut waited, mut slowest) = (0, 0, Duration::ZERO);
                while started.elapsed() < Duration::from_secs(10) {
                    let call = Instant::now();
                    let value = match early {
                        false => plain_hot(&cache, 1).await,
                        true => refreshed_hot(&cache, 1).await,
                    };
                    assert_eq!(value, 1);
                    let took = call.elapsed();
                    calls += 1;
                    // The first call of the run is the cold start, not a wait.
                    if took > WORK / 2 && started.elapsed() > Duration::from_millis(100) {
                        waited += 1;
                        slowest = slowest.max(took);
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                (calls, waited, slowest)
            })
        })
        .collect();
    let mut load = Load {
        calls: 0,
        waited: 0,
        slowest: Duration::ZERO,
    };
    for task in tasks {
        let (calls, waited, slowest) = task.await.unwrap();
        load.calls += calls;
        load.waited += waited;
        load.slowest = load.slowest.max(slowest);
    }
    load
}
