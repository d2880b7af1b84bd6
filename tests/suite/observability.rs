//! What a cached call tells about itself: a `tracing` span per call with its
//! outcome, and latency percentiles in `stats()`. Against a real
//! redis-server.

use cache_test_support as support;

use std::time::Duration;

use cache_runtime::{cache_result, entry, Cache, Config};
use support::{stats_of, RedisServer};
use tracing_subscriber::fmt::format::FmtSpan;

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn traced(cache: &Cache, id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    id * 2
}

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn timed(cache: &Cache, id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    id + 1
}

#[cache_result(expire = 60, store = cache, skip(cache), local = true)]
async fn traced_locally(cache: &Cache, id: u64) -> u64 {
    id * 3
}

/// Every span's close, at debug level, as text, on this thread (until the
/// guard drops).
fn capture_span_closes() -> (support::Captured, tracing::subscriber::DefaultGuard) {
    let captured = support::Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// Each call is a `cache` span at debug level, with the function, the key
/// and the outcome, that closes when the call returns.
#[tokio::test(flavor = "current_thread")]
async fn every_call_has_a_span_with_its_outcome() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let (captured, _guard) = capture_span_closes();

    traced(&cache, 21).await;
    traced(&cache, 21).await;

    let text = captured.text();
    let closes: Vec<&str> = text
        .lines()
        .filter(|line| line.contains(": close"))
        .collect();
    assert_eq!(closes.len(), 2, "one span per call:\n{text}");
    for (line, outcome) in closes.iter().zip(["miss", "hit"]) {
        assert!(line.contains("cache{"), "{line}");
        assert!(
            line.contains("function=\"suite::observability::traced\""),
            "{line}"
        );
        assert!(
            line.contains("key=\"cache:suite::observability::traced:"),
            "{line}"
        );
        assert!(line.contains(&format!("outcome=\"{outcome}\"")), "{line}");
    }
}

/// A local hit never needs the Redis key, so it is hashed only for an
/// enabled span: the span still names the same key as `entry!`.
#[tokio::test(flavor = "current_thread")]
async fn a_local_hit_span_names_the_redis_key() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let (captured, _guard) = capture_span_closes();

    support::until_local_hit("traced_locally", Duration::from_secs(5), || {
        traced_locally(&cache, 5)
    })
    .await;

    let key = entry!(traced_locally(&cache, 5)).key().unwrap().to_owned();
    let text = captured.text();
    let local_hit = text
        .lines()
        .rfind(|line| line.contains(": close"))
        .expect("a closed span");
    assert!(local_hit.contains("outcome=\"local_hit\""), "{local_hit}");
    assert!(local_hit.contains(&format!("key=\"{key}\"")), "{local_hit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_carry_latency_percentiles() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    for id in 0..10 {
        timed(&cache, id).await; // misses: at least 20 ms each
    }
    for _ in 0..90 {
        timed(&cache, 0).await; // hits: one round trip
    }
    let latency = stats_of("observability::timed").latency;
    assert_eq!(latency.count, 100);
    assert!(
        latency.p50 < Duration::from_millis(20),
        "hits are fast: {latency:?}"
    );
    assert!(
        latency.p99 >= Duration::from_millis(20),
        "misses ran: {latency:?}"
    );
    assert!(latency.p50 <= latency.p90 && latency.p90 <= latency.p99);
    assert!(latency.p99 <= latency.p999 && latency.p999 <= latency.max);
}
