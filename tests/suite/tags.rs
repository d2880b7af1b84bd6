//! Tags (`tags = [...]`, `Cache::invalidate_tag`) against a real
//! redis-server: one invalidation reaches every function and argument set
//! that carries the tag, from another client too, in-process copies
//! included; a value computed before an invalidation and written after it
//! is never served; the bookkeeping expires; the embedded store does the
//! same.

use cache_test_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::{cache_result, entry, Cache, Config};
use support::{stats_of, RedisServer};

/// Each returns what `source` holds when it runs, plus `id`: a test sees
/// which run a call returned.
#[cache_result(expire = 60, store = cache, skip(cache, source), tags = ["user:{id}", "users"])]
async fn profile(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

#[cache_result(expire = 60, store = cache, skip(cache, source), tags = ["user:{user_id}"])]
async fn orders(cache: &Cache, source: &AtomicU64, user_id: u64, page: u32) -> u64 {
    source.load(Ordering::SeqCst) + user_id * 100 + u64::from(page)
}

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().unwrap()
}

#[tokio::test]
async fn one_invalidation_reaches_every_function_and_call_with_the_tag() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(1000);
    assert_eq!(profile(&cache, &source, 1).await, 1001);
    assert_eq!(profile(&cache, &source, 2).await, 1002);
    assert_eq!(orders(&cache, &source, 1, 3).await, 1103);
    source.store(2000, Ordering::SeqCst);
    assert_eq!(profile(&cache, &source, 1).await, 1001, "a hit");
    assert_eq!(orders(&cache, &source, 1, 3).await, 1103, "a hit");

    cache.invalidate_tag("user:1").await.unwrap();
    assert_eq!(profile(&cache, &source, 1).await, 2001);
    assert_eq!(orders(&cache, &source, 1, 3).await, 2103);
    assert_eq!(
        profile(&cache, &source, 2).await,
        1002,
        "another user's entry stays"
    );

    source.store(3000, Ordering::SeqCst);
    cache.invalidate_tags(&["users"]).await.unwrap();
    assert_eq!(profile(&cache, &source, 1).await, 3001);
    assert_eq!(profile(&cache, &source, 2).await, 3002);
    assert_eq!(
        orders(&cache, &source, 1, 3).await,
        2103,
        "not tagged `users`"
    );
}

#[tokio::test]
async fn another_client_invalidates_and_redis_shows_the_envelope() {
    let server = RedisServer::start();
    let (here, elsewhere) = (cache_for(&server), cache_for(&server));
    let source = AtomicU64::new(10);
    assert_eq!(profile(&here, &source, 7).await, 17);

    let key = entry!(profile(&here, &source, 7)).key().unwrap().to_owned();
    let stored = server.cli(&["GET", &key]);
    let token = server.cli(&["GET", "cache:[tag]:user:7"]);
    assert_eq!(token.len(), 32, "{token}");
    assert!(stored.starts_with(r#"{"tags":{"user:7":""#), "{stored}");
    assert!(stored.ends_with(r#""},"value":17}"#), "{stored}");

    source.store(20, Ordering::SeqCst);
    elsewhere.invalidate_tag_blocking("user:7").unwrap();
    assert_eq!(profile(&here, &source, 7).await, 27);
    assert_ne!(server.cli(&["GET", "cache:[tag]:user:7"]), token);
    // The token lives as long as its longest-lived entry.
    let left: i64 = server.cli(&["PTTL", "cache:[tag]:users"]).parse().unwrap();
    assert!((50_000..=60_000).contains(&left), "{left}");
}

#[cache_result(expire = 60, store = cache, skip(cache, source, gate), tags = ["user:{id}"])]
async fn slow_profile(
    cache: &Cache,
    source: &AtomicU64,
    gate: &tokio::sync::Notify,
    id: u64,
) -> u64 {
    let value = source.load(Ordering::SeqCst) + id;
    gate.notified().await;
    value
}

/// The race tags must win: a value computed from data older than an
/// invalidation, and written after it, is never served.
#[tokio::test]
async fn a_value_computed_before_an_invalidation_is_not_served_after_it() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let (source, gate) = (
        Arc::new(AtomicU64::new(100)),
        Arc::new(tokio::sync::Notify::new()),
    );
    let computing = tokio::spawn({
        let (cache, source, gate) = (cache.clone(), source.clone(), gate.clone());
        async move { slow_profile(&cache, &source, &gate, 1).await }
    });
    // The call has read the tag and computed from the old data.
    while stats_of("tags::slow_profile").misses == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    source.store(200, Ordering::SeqCst);
    cache.invalidate_tag("user:1").await.unwrap();
    gate.notify_one();
    assert_eq!(
        computing.await.unwrap(),
        101,
        "its caller gets what it computed"
    );

    gate.notify_one();
    let after = slow_profile(&cache, &source, &gate, 1).await;
    assert_eq!(after, 201, "the old value was not stored");
}

#[cache_result(expire = 60, store = cache, skip(cache, source), tags = ["user:{id}"], local = true)]
async fn local_profile(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

/// In-process copies of tagged entries go when the tag is invalidated by
/// another client: the announcement names the tag.
#[tokio::test]
async fn in_process_copies_go_with_their_tag() {
    let server = RedisServer::start();
    let (here, elsewhere) = (cache_for(&server), cache_for(&server));
    let source = AtomicU64::new(0);
    support::until_local_hit("tags::local_profile", Duration::from_secs(5), || {
        local_profile(&here, &source, 5)
    })
    .await;
    assert_eq!(local_profile(&here, &source, 6).await, 6);
    source.store(50, Ordering::SeqCst);

    elsewhere.invalidate_tag("user:5").await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while local_profile(&here, &source, 5).await != 55 {
        assert!(
            std::time::Instant::now() < deadline,
            "the copy outlived its tag"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(
        local_profile(&here, &source, 6).await,
        6,
        "another tag's copy stays"
    );
}

#[tokio::test]
async fn entries_of_tagged_functions_are_read_and_written_with_their_tags() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(0);
    let entry = entry!(profile(&cache, &source, 3));
    entry.put(&42).await.unwrap();
    assert_eq!(entry.get().await.unwrap(), Some(42));
    assert_eq!(
        profile(&cache, &source, 3).await,
        42,
        "the put value is a hit"
    );

    cache.invalidate_tag("users").await.unwrap();
    assert_eq!(entry.get().await.unwrap(), None);
    assert_eq!(profile(&cache, &source, 3).await, 3);
}

#[tokio::test]
async fn the_embedded_store_keeps_tags_too() {
    let cache = Config::embedded().build().unwrap();
    let source = AtomicU64::new(0);
    assert_eq!(profile(&cache, &source, 4).await, 4);
    source.store(10, Ordering::SeqCst);
    assert_eq!(profile(&cache, &source, 4).await, 4);
    cache.invalidate_tag("user:4").await.unwrap();
    assert_eq!(profile(&cache, &source, 4).await, 14);
}

#[cache_result(expire = 60, store = cache, skip(cache, source), tags = ["user:{id}"])]
fn profile_sync(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

/// Sync functions read and write tagged entries through blocking
/// connections, and share them with async code.
#[test]
fn sync_functions_and_blocking_invalidation_keep_tags_too() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(0);
    assert_eq!(profile_sync(&cache, &source, 8), 8);
    source.store(10, Ordering::SeqCst);
    assert_eq!(profile_sync(&cache, &source, 8), 8, "a hit");
    entry!(profile_sync(&cache, &source, 8))
        .put_blocking(&99)
        .unwrap();
    assert_eq!(profile_sync(&cache, &source, 8), 99);
    cache.invalidate_tag_blocking("user:8").unwrap();
    assert_eq!(profile_sync(&cache, &source, 8), 18);
}
