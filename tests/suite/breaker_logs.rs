//! The circuit breaker logs each change of state once, not once per call.
//!
//! A test binary of its own: log capture is a thread-local `tracing`
//! subscriber, and other tests hitting the same log call sites from other
//! threads at the same time can leave them with a cached "not interested"
//! that hides this thread's events.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cache_result, Cache, Config};
use support::{capture_logs, RedisServer};

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn triple(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n * 3
}

/// One `current_thread` runtime: the capture is per thread.
#[tokio::test]
async fn breaker_state_changes_are_logged_once_not_per_call() {
    let mut server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let calls = AtomicUsize::new(0);
    triple(&cache, &calls, 1).await;
    let (logs, _guard) = capture_logs();

    server.stop();
    for n in 0..500 {
        assert_eq!(triple(&cache, &calls, n).await, n * 3);
    }
    server.restart();
    // The first probe after a cool-down may still meet the dead
    // connection (the reconnect is under way) and open the breaker again:
    // call for a few cool-downs until caching resumes, then some more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !logs.text().contains("caching resumed") && std::time::Instant::now() < deadline {
        triple(&cache, &calls, 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    for n in 0..50 {
        triple(&cache, &calls, n).await;
    }

    let logs = logs.text();
    let count = |needle: &str| logs.lines().filter(|line| line.contains(needle)).count();
    assert_eq!(count("Redis unavailable"), 1, "{logs}");
    assert_eq!(count("caching resumed"), 1, "{logs}");
    assert!(
        count(" WARN ") <= 4,
        "a few warnings before the breaker opens, not 500: {logs}"
    );
}
