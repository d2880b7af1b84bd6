//! The cache in one screen: a "database" query that takes 10 ms,
//! called twice through `#[cache_result]`: the miss, then the hit.
//!
//! Uses Redis at `REDIS_URL` (default `redis://127.0.0.1:6379`) when one
//! answers, and the embedded in-process store otherwise.
//!
//! ```sh
//! cargo run --example quickstart
//! RUST_LOG=cache_runtime=debug cargo run --example quickstart   # each call's outcome
//! ```

use std::time::{Duration, Instant};

use cache_runtime::{cache_result, entry, Cache, Config};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct UserStats {
    user_id: u64,
    orders: u32,
    lifetime_value_cents: u64,
}

/// The slow query the cache stands in front of.
#[cache_result(expire = 60)]
async fn get_user_stats(user_id: u64) -> UserStats {
    tokio::time::sleep(Duration::from_millis(10)).await;
    UserStats {
        user_id,
        orders: 17,
        lifetime_value_cents: 123_456,
    }
}

#[tokio::main]
async fn main() -> Result<(), cache_runtime::Error> {
    // The cache logs through `tracing`: with `RUST_LOG=cache_runtime=debug`
    // each call's span, closed, shows its key, outcome (hit, miss, ...) and
    // time; at `warn` (the default here), a Redis that stops answering.
    tracing_subscriber::fmt()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "cache_runtime=warn".into()),
        )
        .init();

    let cache = pick_cache().await?;
    cache_runtime::set_global(cache.clone())?;

    // A user id of this run's own, so that the first call is a miss even when
    // an earlier run left its entry in Redis.
    let user_id = u64::from(std::process::id());

    let started = Instant::now();
    let stats = get_user_stats(user_id).await;
    println!("1st call (miss): {:>8.2?}  {stats:?}", started.elapsed());

    let started = Instant::now();
    let stats = get_user_stats(user_id).await;
    println!("2nd call (hit):  {:>8.2?}  {stats:?}", started.elapsed());

    // The call's entry: the key the attribute derived, `<prefix>:<module::fn>:<md5>`.
    let entry = entry!(get_user_stats(user_id));
    let key = entry.key()?;
    let ttl = entry.ttl().await?.unwrap_or_default();
    let json = cache.get_raw(key).await?.unwrap_or_default();
    println!("key:   {key}");
    println!("TTL:   {} s", ttl.as_secs_f64().round());
    println!("value: {}", String::from_utf8_lossy(&json));
    Ok(())
}

/// Redis when it answers, the embedded store otherwise.
async fn pick_cache() -> Result<Cache, cache_runtime::Error> {
    match Config::from_env().connect().await {
        Ok(redis) => {
            println!("store: {redis:?}");
            Ok(redis)
        }
        Err(error) => {
            println!(
                "store: embedded, in this process (no Redis: {error}); set REDIS_URL to use one"
            );
            Ok(Cache::embedded())
        }
    }
}
