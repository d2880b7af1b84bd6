//! The in-process tier (`local = ...`, `LocalTier`) in front of a real
//! redis-server started by each test. The cross-process case (another
//! process evicts) is in tests/processes.rs.

use cache_test_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cache_result, entry, Cache, Config, LocalTier};
use serde::{Deserialize, Serialize};
use support::{stats_of, RedisServer};

/// Functions that return what `source` holds when they run (plus `id`), so
/// that a test sees which run (or which copy) a call returned. One per test:
/// counters are per function and tests run in parallel.
macro_rules! subjects {
    ($($name:ident),*) => {$(
        #[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
        async fn $name(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
            source.load(Ordering::SeqCst) + id
        }
    )*};
}

subjects!(
    answered_here,
    evicted_here,
    evicted_elsewhere,
    cleared,
    channel_down,
    hot_loop,
    tier_on,
    written_elsewhere,
    first_reads,
    first_miss,
    notices_lost,
    untracked
);

/// Not `Clone`: its copies are kept as JSON and decoded on each hit.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Report {
    version: u64,
    lines: Vec<String>,
}

#[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
async fn report(cache: &Cache, source: &AtomicU64) -> Report {
    let version = source.load(Ordering::SeqCst);
    Report {
        version,
        lines: vec![format!("version {version}")],
    }
}

#[cache_result(expire = 2, store = cache, skip(cache, source), local = true)]
async fn short_lived(cache: &Cache, source: &AtomicU64) -> u64 {
    source.load(Ordering::SeqCst)
}

#[cache_result(expire = 60, store = cache, skip(cache, source), local = 1)]
async fn one_second_copies(cache: &Cache, source: &AtomicU64) -> u64 {
    source.load(Ordering::SeqCst)
}

#[cache_result(expire = 60, store = cache, skip(cache, source))]
async fn by_default(cache: &Cache, source: &AtomicU64) -> u64 {
    source.load(Ordering::SeqCst)
}

#[cache_result(expire = 60, store = cache, skip(cache, source))]
async fn never_asked(cache: &Cache, source: &AtomicU64) -> u64 {
    source.load(Ordering::SeqCst)
}

#[cache_result(expire = 60, store = cache, skip(cache, source), local = false)]
async fn never_local(cache: &Cache, source: &AtomicU64) -> u64 {
    source.load(Ordering::SeqCst)
}

#[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
fn sync_current(cache: &Cache, source: &AtomicU64) -> u64 {
    source.load(Ordering::SeqCst)
}

/// `support::until_local_hit` within 5 s.
async fn until_local<F, Fut>(name: &str, call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
{
    support::until_local_hit(name, Duration::from_secs(5), call).await;
}

/// Calls until `call` returns `fresh`, after an eviction in another cache:
/// the announcement must reach this one's tier within 250 ms.
async fn fresh_within_250ms<F, Fut>(fresh: u64, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u64>,
{
    let evicted = Instant::now();
    while call().await != fresh {
        assert!(
            evicted.elapsed() < Duration::from_millis(250),
            "the copy outlived the eviction"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn commands_processed(server: &RedisServer) -> u64 {
    let info = server.cli(&["INFO", "stats"]);
    info.lines()
        .find_map(|line| line.strip_prefix("total_commands_processed:"))
        .and_then(|count| count.trim().parse().ok())
        .expect("INFO stats has total_commands_processed")
}

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_hits_answer_without_asking_redis() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(100);
    until_local("answered_here", || answered_here(&cache, &source, 1)).await;

    let before = commands_processed(&server);
    let hits_before = stats_of("answered_here").local_hits;
    source.store(200, Ordering::SeqCst);
    for _ in 0..1000 {
        assert_eq!(
            answered_here(&cache, &source, 1).await,
            101,
            "the cached run"
        );
    }
    let commands = commands_processed(&server) - before;
    // The INFO calls themselves, and perhaps the listener's heartbeat PING.
    assert!(commands <= 4, "1000 local hits sent {commands} commands");
    assert_eq!(stats_of("answered_here").local_hits - hits_before, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evict_and_put_in_this_process_take_effect_at_once() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(10);
    until_local("evicted_here", || evicted_here(&cache, &source, 2)).await;

    source.store(20, Ordering::SeqCst);
    assert!(entry!(evicted_here(&cache, &source, 2))
        .evict()
        .await
        .unwrap());
    assert_eq!(
        evicted_here(&cache, &source, 2).await,
        22,
        "evicted: runs again"
    );

    entry!(evicted_here(&cache, &source, 2))
        .put(&7)
        .await
        .unwrap();
    assert_eq!(
        evicted_here(&cache, &source, 2).await,
        7,
        "put: the new value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_cache_evicting_reaches_this_one_through_the_channel() {
    let server = RedisServer::start();
    let (here, elsewhere) = (cache_for(&server), cache_for(&server));
    let source = AtomicU64::new(1000);
    until_local("evicted_elsewhere", || evicted_elsewhere(&here, &source, 3)).await;

    source.store(2000, Ordering::SeqCst);
    entry!(evicted_elsewhere(&elsewhere, &source, 3))
        .evict()
        .await
        .unwrap();
    fresh_within_250ms(2003, || evicted_elsewhere(&here, &source, 3)).await;
}

/// Redis itself reports every write to the cache's keys, whoever makes it:
/// another program's `SET` (its value is returned) and `DEL`, an operator's
/// `PEXPIRE`, an eviction under `maxmemory`, a `FLUSHDB`. None is announced
/// by this crate; each reaches the tier within 250 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_any_client_reach_the_tier() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(0);
    let entry = entry!(written_elsewhere(&cache, &source, 1));
    let key = entry.key().unwrap().to_owned();
    let evict_everything = |server: &RedisServer| {
        server.cli(&["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
        server.cli(&["CONFIG", "SET", "maxmemory", "1"]);
        server.cli(&["PING"]);
        server.cli(&["CONFIG", "SET", "maxmemory", "0"]);
    };
    type Write<'a> = Box<dyn Fn(&RedisServer) + 'a>;
    let writes: [(&str, Write<'_>, u64); 5] = [
        ("SET", Box::new(|s| drop(s.cli(&["SET", &key, "41"]))), 41),
        ("DEL", Box::new(|s| drop(s.cli(&["DEL", &key]))), 201),
        (
            "PEXPIRE",
            Box::new(|s| drop(s.cli(&["PEXPIRE", &key, "1"]))),
            301,
        ),
        ("eviction", Box::new(evict_everything), 401),
        ("FLUSHDB", Box::new(|s| drop(s.cli(&["FLUSHDB"]))), 501),
    ];
    for (name, write, fresh) in writes {
        until_local("written_elsewhere", || {
            written_elsewhere(&cache, &source, 1)
        })
        .await;
        source.store(fresh - 1, Ordering::SeqCst);
        write(&server);
        let written = Instant::now();
        while written_elsewhere(&cache, &source, 1).await != fresh {
            assert!(
                written.elapsed() < Duration::from_millis(250),
                "{name}: the copy outlived the write"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// A new cache's tier goes on before its first call reads Redis, and keeps
/// what that call reads: the second call is answered in the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_caches_first_read_is_kept() {
    let server = RedisServer::start();
    let source = AtomicU64::new(3);
    let writer = cache_for(&server);
    assert_eq!(first_reads(&writer, &source, 1).await, 4);
    source.store(5, Ordering::SeqCst);

    let reader = cache_for(&server);
    let before = stats_of("first_reads");
    assert_eq!(first_reads(&reader, &source, 1).await, 4, "a Redis hit");
    assert_eq!(first_reads(&reader, &source, 1).await, 4);
    let after = stats_of("first_reads");
    assert_eq!(after.hits - before.hits, 1, "{after:?}");
    assert_eq!(after.local_hits - before.local_hits, 1, "{after:?}");
}

/// A new cache's first call computes and writes the value; once Redis has
/// confirmed the write (its notice came, and a read found the bytes
/// written, off the call's path), the copy is kept: the next call is
/// answered in the process, with no Redis hit between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_caches_first_miss_is_kept() {
    let server = RedisServer::start();
    let source = AtomicU64::new(3);
    let cache = cache_for(&server);
    let before = stats_of("first_miss");
    assert_eq!(first_miss(&cache, &source, 1).await, 4);
    source.store(5, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(first_miss(&cache, &source, 1).await, 4);
    let after = stats_of("first_miss");
    assert_eq!(after.misses - before.misses, 1, "{after:?}");
    assert_eq!(after.hits - before.hits, 0, "{after:?}");
    assert_eq!(after.local_hits - before.local_hits, 1, "{after:?}");
}

/// A Redis that refuses `CLIENT` (renamed away, as some managed services
/// do): the tier cannot hear writes, so it stays off, and says so once;
/// every call still returns the right value, through Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_client_tracking_the_tier_stays_off_and_says_so() {
    let (logs, _guard) = support::capture_logs();
    let server = RedisServer::start_with_options(&["--rename-command", "CLIENT", ""]);
    let cache = cache_for(&server);
    let source = AtomicU64::new(1);
    let before = stats_of("untracked");
    for _ in 0..5 {
        assert_eq!(untracked(&cache, &source, 1).await, 2);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = stats_of("untracked");
    assert_eq!(after.local_hits - before.local_hits, 0, "{after:?}");
    assert_eq!(after.hits - before.hits, 4, "{after:?}");
    let text = logs.text();
    assert_eq!(text.matches("refuses client tracking").count(), 1, "{text}");
}

/// The notices' connection killed while Redis stays up (`CLIENT KILL`):
/// the tier goes off at once, so a write made before it is back cannot
/// leave a copy behind; then it comes back on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_notice_connection_turns_the_tier_off_until_it_is_back() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(10);
    let key = entry!(notices_lost(&cache, &source, 1))
        .key()
        .unwrap()
        .to_owned();
    until_local("notices_lost", || notices_lost(&cache, &source, 1)).await;
    server.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
    server.cli(&["SET", &key, "99"]);
    fresh_within_250ms(99, || notices_lost(&cache, &source, 1)).await;
    until_local("notices_lost", || notices_lost(&cache, &source, 1)).await;
    server.cli(&["SET", &key, "98"]);
    fresh_within_250ms(98, || notices_lost(&cache, &source, 1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clearing_drops_every_copy() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(1);
    until_local("cleared", || cleared(&cache, &source, 4)).await;

    source.store(5, Ordering::SeqCst);
    cache.clear().await.unwrap();
    assert_eq!(cleared(&cache, &source, 4).await, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_never_outlives_its_redis_entry() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(1);
    let first = Instant::now();
    until_local("short_lived", || short_lived(&cache, &source)).await;
    source.store(2, Ordering::SeqCst);

    // The entry lives 2 s from the first call's write.
    while first.elapsed() < Duration::from_millis(1900) {
        assert_eq!(short_lived(&cache, &source).await, 1);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(short_lived(&cache, &source).await, 2, "expired everywhere");
}

/// On a mock clock: the copy's second passes without a sleep (the Redis
/// entry, minutes long, keeps the wall clock's time).
#[test]
fn local_with_seconds_bounds_the_copy_not_the_entry() {
    let server = RedisServer::start();
    support::on_mock_clock(|clock| async move {
        let cache = cache_for(&server);
        let source = AtomicU64::new(1);
        until_local("one_second_copies", || one_second_copies(&cache, &source)).await;
        let hits = stats_of("one_second_copies").hits;

        clock.increment(Duration::from_millis(1100));
        source.store(2, Ordering::SeqCst);
        assert_eq!(one_second_copies(&cache, &source).await, 1, "from Redis");
        assert_eq!(stats_of("one_second_copies").hits, hits + 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_that_are_not_clone_are_kept_as_json() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(3);
    until_local("local_tier::report", || report(&cache, &source)).await;
    source.store(4, Ordering::SeqCst);
    let value = report(&cache, &source).await;
    assert_eq!(value.version, 3);
    assert_eq!(value.lines, ["version 3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_unless_it_says_local_false() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .local_tier(LocalTier::max_entries(1000).every_function(true))
        .build()
        .unwrap();
    let source = AtomicU64::new(1);
    until_local("by_default", || by_default(&cache, &source)).await;

    for _ in 0..10 {
        never_local(&cache, &source).await;
    }
    let stats = stats_of("never_local");
    assert_eq!((stats.local_hits, stats.hits), (0, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_local_functions_keep_no_copies() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(1);
    for _ in 0..10 {
        never_asked(&cache, &source).await;
    }
    let stats = stats_of("never_asked");
    assert_eq!((stats.local_hits, stats.hits), (0, 9));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_functions_use_the_tier_too() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(8);
    until_local("sync_current", || async { sync_current(&cache, &source) }).await;
    source.store(9, Ordering::SeqCst);
    assert_eq!(sync_current(&cache, &source), 8);
    entry!(sync_current(&cache, &source))
        .evict_blocking()
        .unwrap();
    assert_eq!(sync_current(&cache, &source), 9);
}

/// Without its channel, the tier cannot hear evictions: it switches off and
/// empties itself, calls go to Redis (or run, while Redis is down), and it
/// comes back on once the channel is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tier_is_off_while_its_channel_is_down() {
    let mut server = RedisServer::start();
    let cache = Config::redis(server.url())
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let source = AtomicU64::new(1);
    until_local("channel_down", || channel_down(&cache, &source, 5)).await;

    server.stop();
    source.store(2, Ordering::SeqCst);
    // Within a heartbeat (1 s) and a failed PING, the copy is gone: with
    // Redis down, the function runs.
    let stopped = Instant::now();
    while channel_down(&cache, &source, 5).await != 7 {
        assert!(
            stopped.elapsed() < Duration::from_secs(5),
            "still serving the copy"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    server.restart();
    until_local("channel_down", || channel_down(&cache, &source, 5)).await;
    assert_eq!(channel_down(&cache, &source, 5).await, 7);
}

/// A local hit needs no I/O, so nothing in it would ever yield; it spends
/// Tokio's cooperative budget instead, as Tokio's own resources do, and a
/// loop of them lets the runtime's other tasks run.
#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_local_hits_lets_other_tasks_run() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(1);
    until_local("hot_loop", || hot_loop(&cache, &source, 1)).await;

    let ticked = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tick = ticked.clone();
    tokio::spawn(async move { tick.store(true, Ordering::SeqCst) });
    let mut hits = 0;
    while !ticked.load(Ordering::SeqCst) && hits < 100_000 {
        hot_loop(&cache, &source, 1).await;
        hits += 1;
    }
    assert!(ticked.load(Ordering::SeqCst), "starved for {hits} hits");
    assert!(hits <= 1000, "the other task ran only after {hits} hits");
}

/// XFetch's beta at 4328, a 20 ms function, a 2 s TTL: once a copy is in
/// the second half of its life (early refresh never comes sooner), a refresh
/// is due on nearly every call (`0.02 s * beta * -ln(u) >= 1 s`).
#[cache_result(expire = 2, store = cache, skip(cache, source), local = true, early_refresh = 4328.0)]
async fn refreshed(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    source.load(Ordering::SeqCst) + id
}

/// An early refresh in this process replaces this process's copy: later
/// local hits return the refreshed value, never the one it replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_refresh_updates_the_local_copy() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(100);
    until_local("refreshed", || refreshed(&cache, &source, 0)).await;
    assert_eq!(refreshed(&cache, &source, 1).await, 101);

    source.store(200, Ordering::SeqCst);
    let refreshes = stats_of("refreshed").refreshes;
    let since = Instant::now();
    while stats_of("refreshed").refreshes == refreshes {
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "no refresh in 10 s"
        );
        let value = refreshed(&cache, &source, 1).await;
        assert!(value == 101 || value == 201, "{value}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    source.store(300, Ordering::SeqCst);
    for _ in 0..40 {
        let value = refreshed(&cache, &source, 1).await;
        assert!(
            value == 201 || value == 301,
            "a replaced value came back: {value}"
        );
    }
}

// The tier keys a hashed-key function's copies by the function and the
// arguments' JSON (no MD5 on a hit); a template function's by its Redis key.

#[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
async fn twin_a(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

#[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
async fn twin_b(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + 2 * id
}

/// Same arguments, same JSON, two functions: two copies, each its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_with_the_same_arguments_keep_their_own_copies() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let (a, b) = (AtomicU64::new(1000), AtomicU64::new(5000));
    until_local("twin_a", || twin_a(&cache, &a, 7)).await;
    until_local("twin_b", || twin_b(&cache, &b, 7)).await;
    let (a_hits, b_hits) = (stats_of("twin_a").local_hits, stats_of("twin_b").local_hits);
    for _ in 0..10 {
        assert_eq!(twin_a(&cache, &a, 7).await, 1007);
        assert_eq!(twin_b(&cache, &b, 7).await, 5014);
    }
    assert_eq!(stats_of("twin_a").local_hits - a_hits, 10);
    assert_eq!(stats_of("twin_b").local_hits - b_hits, 10);
}

#[cache_result(expire = 60, store = cache, local = true, key = "user:{id}")]
async fn templated(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_functions_keep_copies_that_evictions_reach() {
    let server = RedisServer::start();
    let (here, elsewhere) = (cache_for(&server), cache_for(&server));
    let source = AtomicU64::new(100);
    until_local("templated", || templated(&here, &source, 8)).await;

    source.store(300, Ordering::SeqCst);
    assert_eq!(templated(&here, &source, 8).await, 108, "the copy");
    entry!(templated(&elsewhere, &source, 8))
        .evict()
        .await
        .unwrap();
    fresh_within_250ms(308, || templated(&here, &source, 8)).await;
}

#[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
async fn by_map(
    cache: &Cache,
    source: &AtomicU64,
    weights: std::collections::BTreeMap<(u8, u8), u8>,
) -> u64 {
    source.fetch_add(1, Ordering::SeqCst) + weights.len() as u64
}

/// A map with non-string keys has no JSON: the call runs, uncached, with or
/// without a tier.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argument_without_json_runs_uncached_with_a_tier_too() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let source = AtomicU64::new(0);
    until_local("tier_on", || tier_on(&cache, &source, 1)).await;
    let weights = std::collections::BTreeMap::from([((1, 2), 3)]);
    assert_eq!(by_map(&cache, &source, weights.clone()).await, 1);
    assert_eq!(by_map(&cache, &source, weights).await, 2);
    assert_eq!(stats_of("by_map").uncached, 2);
}
