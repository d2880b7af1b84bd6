//! A load run: many tasks call a cached "product lookup" (a 2 ms query) on a
//! skewed key distribution, first through Redis alone, then with the
//! in-process tier (`local = true`); then hits alone, to compare the two
//! tiers' hit throughput. Prints each function's hit ratio and latency
//! percentiles from `cache_runtime::stats()`.
//!
//! ```text
//! cargo run --release -p cache-perf --bin load                 # Redis at REDIS_URL (default 127.0.0.1:6379)
//! LOAD_SECS=10 LOAD_TASKS=256 cargo run --release -p cache-perf --bin load
//! ```
//!
//! Keys live under the prefix `load-example`, cleared before and after.
//! Figures from this machine are in docs/BENCHMARKS.md.

use std::time::{Duration, Instant};

use cache_runtime::{cache_result, Cache, Config, FunctionStats};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Product {
    id: u64,
    name: String,
    price_cents: u64,
    tags: Vec<String>,
}

/// The "database": 2 ms per query.
async fn query(id: u64) -> Product {
    tokio::time::sleep(Duration::from_millis(2)).await;
    Product {
        id,
        name: format!("product {id}"),
        price_cents: 100 + id % 900,
        tags: vec!["catalog".into(), format!("shelf-{}", id % 40)],
    }
}

#[cache_result(expire = 300, store = cache, skip(cache))]
async fn product_in_redis(cache: &Cache, id: u64) -> Product {
    query(id).await
}

#[cache_result(expire = 300, store = cache, skip(cache), local = true)]
async fn product_with_local_tier(cache: &Cache, id: u64) -> Product {
    query(id).await
}

const KEYS: u64 = 10_000;

/// A skewed key: a few hot products, a long tail (u^3 over 10,000 keys).
fn skewed(state: &mut u64) -> u64 {
    // xorshift64*
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    let uniform = (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
    (uniform.powi(3) * KEYS as f64) as u64
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// `tasks` tasks call `lookup` for `secs`; returns calls per second.
async fn run<F, Fut>(tasks: u64, duration: Duration, keys: fn(&mut u64) -> u64, lookup: F) -> f64
where
    F: Fn(u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Product> + Send,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let lookup = lookup.clone();
            tokio::spawn(async move {
                // Counted per task: one shared counter would be a contended
                // atomic per call, weighing on the fastest runs most.
                let (mut state, mut calls) = (0x9e37_79b9_7f4a_7c15 ^ (task + 1), 0u64);
                while started.elapsed() < duration {
                    let id = keys(&mut state);
                    assert_eq!(lookup(id).await.id, id);
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for handle in handles {
        calls += handle.await.expect("no task panics");
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

fn stats_of(name: &str) -> FunctionStats {
    cache_runtime::stats()
        .into_iter()
        .find(|stats| stats.function.ends_with(name))
        .unwrap_or_default()
}

fn print_stats(stats: &FunctionStats, per_second: f64) {
    let l = &stats.latency;
    println!(
        "{:<42} {:>9.0}/s  hit ratio {:>5.1}%  (local {:>8}, redis {:>8}, coalesced {:>6}, misses {:>6})  \
         p50 {:>9.1?}  p90 {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        stats.function,
        per_second,
        stats.hit_ratio() * 100.0,
        stats.local_hits,
        stats.hits,
        stats.coalesced,
        stats.misses,
        l.p50,
        l.p90,
        l.p99,
        l.max,
    );
}

#[tokio::main]
async fn main() {
    let duration = Duration::from_secs(setting("LOAD_SECS", 5));
    let tasks = setting("LOAD_TASKS", 64);
    let cache = Config::from_env()
        .prefix("load-example")
        .connect()
        .await
        .unwrap_or_else(|error| {
            eprintln!("this example needs Redis (REDIS_URL): {error}");
            std::process::exit(2);
        });
    // One cache for the process, borrowed by every task: a clone per call
    // would be a contended atomic on the hot path of the measurement.
    let cache: &'static Cache = Box::leak(Box::new(cache));
    cache.clear().await.expect("clear the example's keys");
    println!("{tasks} tasks x {duration:?}, {KEYS} keys (skewed), a 2 ms query per miss\n");

    let redis = run(tasks, duration, skewed, move |id| {
        product_in_redis(cache, id)
    })
    .await;
    print_stats(&stats_of("::product_in_redis"), redis);
    let local = run(tasks, duration, skewed, move |id| {
        product_with_local_tier(cache, id)
    })
    .await;
    print_stats(&stats_of("::product_with_local_tier"), local);

    // Hits only: one key per task, stored by the runs above.
    println!("\nhits only (every task on a key already stored):");
    for tasks in [1, tasks] {
        let hot = |state: &mut u64| *state % 64;
        let redis = run(tasks, duration, hot, move |id| product_in_redis(cache, id)).await;
        let local = run(tasks, duration, hot, move |id| {
            product_with_local_tier(cache, id)
        })
        .await;
        println!(
            "  {tasks:>4} task(s): Redis hits {redis:>10.0}/s   in-process hits {local:>11.0}/s   ratio {:>6.1}x",
            local / redis
        );
    }
    cache.clear().await.expect("clear the example's keys");
}
