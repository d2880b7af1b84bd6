//! Without `set_global`, the global cache is Redis at `REDIS_URL`, with the
//! prefix from `CACHE_PREFIX`, connected on first use.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;
use support::RedisServer;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result]
async fn square(n: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    n * n
}

#[tokio::test]
async fn global_cache_connects_to_redis_url_with_the_default_expire() {
    let server = RedisServer::start();
    // Set before the first cached call builds the global cache; this binary
    // has no other test that could read the environment concurrently.
    std::env::set_var("REDIS_URL", server.url());
    std::env::set_var("CACHE_PREFIX", "envtest");

    assert_eq!(square(9).await, 81);
    assert_eq!(square(9).await, 81);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);

    let keys = server.keys();
    assert!(
        keys[0].starts_with("envtest:global_from_env::square:"),
        "{keys:?}"
    );
    let ttl: u64 = server.cli(&["TTL", &keys[0]]).parse().unwrap();
    assert!(
        (299..=300).contains(&ttl),
        "bare #[cache_result] means expire = 300, got {ttl}"
    );
}
