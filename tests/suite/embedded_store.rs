//! The embedded store is a backend in its own right: same semantics as
//! Redis (TTL, JSON values, what is and is not stored), no server.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cache_result, entry, Cache, Config, StoreKind};

#[cache_result(expire = 1, store = cache, skip(cache, calls))]
async fn word(cache: &Cache, calls: &AtomicUsize, n: u32) -> Option<String> {
    calls.fetch_add(1, Ordering::SeqCst);
    (n > 0).then(|| format!("word {n}"))
}

/// On a mock clock: the second of expiry passes without a sleep.
#[test]
fn embedded_store_hits_misses_and_expires_like_redis() {
    support::on_mock_clock(|clock| async move {
        let cache = Cache::embedded();
        assert_eq!(cache.kind(), StoreKind::Embedded);
        let calls = AtomicUsize::new(0);

        assert_eq!(word(&cache, &calls, 1).await.as_deref(), Some("word 1"));
        assert_eq!(word(&cache, &calls, 1).await.as_deref(), Some("word 1"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let key = entry!(word(&cache, &calls, 1)).key().unwrap().to_owned();
        assert_eq!(
            cache.get_raw(&key).await.unwrap().as_deref(),
            Some(&br#""word 1""#[..])
        );
        let ttl = cache.ttl(&key).await.unwrap().expect("a TTL");
        assert!(
            ttl <= Duration::from_secs(1) && ttl > Duration::ZERO,
            "{ttl:?}"
        );

        word(&cache, &calls, 0).await;
        word(&cache, &calls, 0).await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "None is not stored");

        clock.increment(Duration::from_millis(1100));
        assert_eq!(cache.ttl(&key).await.unwrap(), None, "expired");
        word(&cache, &calls, 1).await;
        assert_eq!(calls.load(Ordering::SeqCst), 4, "expired entry is a miss");
    });
}

#[tokio::test]
async fn disabled_cache_runs_every_call() {
    let cache = Config::disabled().build().unwrap();
    let calls = AtomicUsize::new(0);
    word(&cache, &calls, 1).await;
    word(&cache, &calls, 1).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Every async call first spends Tokio's cooperative budget; outside a
/// Tokio runtime there is no budget, and the call goes straight on.
#[test]
fn async_functions_run_outside_any_tokio_runtime_on_the_embedded_store() {
    let cache = Cache::embedded();
    let calls = AtomicUsize::new(0);
    for _ in 0..1000 {
        let word = support::poll_to_end(word(&cache, &calls, 7));
        assert_eq!(word.as_deref(), Some("word 7"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "999 hits");
}
