//! Concurrent reads share round trips (`store/redis/reads.rs`): under load, the
//! reads queued behind those on the wire leave as one `MGET`. Against real
//! redis-server processes started by each test.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::{cache_result, Cache, Config};
use support::{stats_of, RedisServer};

const KEYS: u64 = 256;

/// One function per test (each test counts its own function's calls), all
/// alike: `value(id)`, counted in `calls`.
macro_rules! valued {
    ($($name:ident),*) => {$(
        #[cache_result(expire = 600, store = cache, skip(cache, calls))]
        async fn $name(cache: &Cache, calls: &AtomicUsize, id: u64) -> String {
            calls.fetch_add(1, Ordering::SeqCst);
            value(id)
        }
    )*};
}

valued!(label, unbatched, frozen, abandoned, outlived, lone, untimed);

fn value(id: u64) -> String {
    format!("value {id}")
}

/// Awaits `tasks`: each must return its own id's value.
async fn each_its_own<I>(tasks: I)
where
    I: IntoIterator<Item = tokio::task::JoinHandle<(u64, String)>>,
{
    for task in tasks {
        let (id, returned) = task.await.expect("no task panics");
        assert_eq!(returned, value(id), "each caller its own key's value");
    }
}

/// `rounds` rounds of one caller per key at once; each must get its own
/// key's value.
async fn rounds<F, Fut>(rounds: usize, call: F)
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    for _ in 0..rounds {
        each_its_own(each_at_once(&call).await).await;
    }
}

/// One task per id, all at once; each returns `(id, result)`.
async fn each_at_once<F, Fut, T>(call: F) -> Vec<tokio::task::JoinHandle<(u64, T)>>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    spawn_each(0..KEYS, call)
}

fn spawn_each<F, Fut, T>(
    ids: std::ops::Range<u64>,
    call: F,
) -> Vec<tokio::task::JoinHandle<(u64, T)>>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    ids.map(|id| {
        let call = call(id);
        tokio::spawn(async move { (id, call.await) })
    })
    .collect()
}

/// `calls` of the `MGET` command the server has answered.
fn mget_calls(server: &RedisServer) -> u64 {
    let stats = server.cli(&["INFO", "commandstats"]);
    let Some(line) = stats.lines().find(|line| line.starts_with("cmdstat_mget:")) else {
        return 0;
    };
    let calls = line.split(['=', ',']).nth(1).expect("calls=<n>");
    calls.parse().expect("a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_hits_share_round_trips_and_each_gets_its_own_value() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().expect("valid URL");
    let calls = Arc::new(AtomicUsize::new(0));
    for id in 0..KEYS {
        label(&cache, &calls, id).await;
    }
    assert_eq!(mget_calls(&server), 0, "one caller at a time: single GETs");

    rounds(20, |id| {
        let (cache, calls) = (cache.clone(), calls.clone());
        async move { label(&cache, &calls, id).await }
    })
    .await;

    assert_eq!(
        calls.load(Ordering::SeqCst),
        KEYS as usize,
        "every call a hit"
    );
    let stats = stats_of("batched_reads::label");
    assert_eq!((stats.hits, stats.errors), (20 * KEYS, 0), "{stats:?}");
    assert!(mget_calls(&server) > 0, "256 callers at once: batched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_reads_false_sends_every_read_as_its_own_get() {
    let server = RedisServer::start();
    // 256 single `GET`s at once, on two cores shared with the rest of the
    // suite, can wait past the default 50 ms; a read that times out runs
    // the function (fail-open), which is not what this test is about.
    let cache = Config::redis(server.url())
        .batch_reads(false)
        .op_timeout(Duration::from_secs(5))
        .build()
        .expect("valid URL");
    let calls = Arc::new(AtomicUsize::new(0));
    for id in 0..KEYS {
        unbatched(&cache, &calls, id).await;
    }
    rounds(5, |id| {
        let (cache, calls) = (cache.clone(), calls.clone());
        async move { unbatched(&cache, &calls, id).await }
    })
    .await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        KEYS as usize,
        "every call a hit"
    );
    let stats = stats_of("batched_reads::unbatched");
    assert_eq!((stats.hits, stats.errors), (5 * KEYS, 0), "{stats:?}");
    assert_eq!(mget_calls(&server), 0);
}

/// A read queued for a batch is bounded by the operation timeout like any
/// other: when Redis stops answering, every caller runs its function.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_reads_give_up_after_the_operation_timeout() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .op_timeout(Duration::from_millis(300))
        .build()
        .expect("valid URL");
    let calls = Arc::new(AtomicUsize::new(0));
    frozen(&cache, &calls, 0).await;

    server.pause();
    let tasks = each_at_once(|id| {
        let (cache, calls) = (cache.clone(), calls.clone());
        async move { frozen(&cache, &calls, id).await }
    })
    .await;
    let returned = tokio::time::timeout(Duration::from_secs(20), each_its_own(tasks)).await;
    server.resume();
    returned.expect("every caller returned: none waits for a frozen Redis");
    assert_eq!(calls.load(Ordering::SeqCst), 1 + KEYS as usize, "each ran");
}

/// The reads on the wire are the first callers' own: cancelling those
/// callers must not leave the reads queued behind them waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_callers_do_not_strand_the_reads_queued_behind_them() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .op_timeout(Duration::from_secs(10))
        .build()
        .expect("valid URL");
    let calls = Arc::new(AtomicUsize::new(0));
    for id in 0..KEYS {
        abandoned(&cache, &calls, id).await;
    }

    // Frozen: the first callers' reads go out and stay out; the rest queue.
    server.pause();
    let call = |id| {
        let (cache, calls) = (cache.clone(), calls.clone());
        async move { abandoned(&cache, &calls, id).await }
    };
    let first = spawn_each(0..16, call);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rest = spawn_each(16..KEYS, call);
    tokio::time::sleep(Duration::from_millis(100)).await;
    for task in &first {
        task.abort();
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.resume();

    each_its_own(rest).await;
    // Stranded reads would wait out the 10 s timeout, then run the function.
    assert_eq!(
        calls.load(Ordering::SeqCst),
        KEYS as usize,
        "hits, not runs"
    );
    assert_eq!(stats_of("abandoned").errors, 0);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A runtime shut down with reads out and a batch queued (a test's
/// runtime ending, a service stopping) must not keep their places on the
/// wire: the next runtime's reads would all queue for a batch never sent.
#[test]
fn a_runtime_shut_down_mid_batch_gives_back_its_places_on_the_wire() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .op_timeout(Duration::from_secs(2))
        .build()
        .expect("valid URL");
    let calls = Arc::new(AtomicUsize::new(0));
    let call = |id| {
        let (cache, calls) = (cache.clone(), calls.clone());
        async move { outlived(&cache, &calls, id).await }
    };

    let setup = runtime();
    setup.block_on(async {
        for id in 0..KEYS {
            call(id).await;
        }
    });
    drop(setup);
    // More times than there are places on the wire (`ON_THE_WIRE`, 8):
    // were one kept each time, none would be left.
    for _ in 0..10 {
        let ending = runtime();
        ending.block_on(async {
            server.pause();
            drop(each_at_once(call).await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        });
        ending.shutdown_timeout(Duration::ZERO);
        server.resume();
    }

    let ran = calls.load(Ordering::SeqCst);
    let next = runtime();
    next.block_on(async {
        // The connection died with a runtime: the first call may find it
        // broken (an error, the function runs) and reconnect.
        call(0).await;
        let errors = stats_of("outlived").errors;
        rounds(3, call).await;
        let stats = stats_of("outlived");
        assert_eq!(stats.errors, errors, "{stats:?}");
    });
    assert!(
        calls.load(Ordering::SeqCst) <= ran + 1,
        "hits in the second runtime"
    );
}

/// A read alone in the queue when a place frees sends its own `GET`; one
/// cancelled before then gives the place back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_alone_in_the_queue_sends_its_own_get() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .op_timeout(Duration::from_secs(10))
        .build()
        .expect("valid URL");
    let calls = Arc::new(AtomicUsize::new(0));
    for id in 0..KEYS {
        lone(&cache, &calls, id).await;
    }
    let call = |id| {
        let (cache, calls) = (cache.clone(), calls.clone());
        async move { lone(&cache, &calls, id).await }
    };
    // Frozen: eight reads go out (all there is room for: `ON_THE_WIRE` in
    // store/redis/reads.rs), the ninth queues. It runs once, then is cancelled
    // nine times: once more than there are places.
    for cancel in std::iter::once(false).chain([true; 9]) {
        server.pause();
        let out = spawn_each(0..8, call);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let queued = spawn_each(8..9, call);
        tokio::time::sleep(Duration::from_millis(100)).await;
        if cancel {
            queued[0].abort();
        }
        server.resume();
        each_its_own(out.into_iter().chain(if cancel { vec![] } else { queued })).await;
    }
    assert_eq!(mget_calls(&server), 0, "a batch of one is a GET");

    // Had a cancelled read kept its place, these would queue for good.
    rounds(1, call).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        KEYS as usize,
        "every call a hit"
    );
    assert_eq!(stats_of("lone").errors, 0);
}

#[cache_result(expire = 1, stale_if_error = 600, store = cache, skip(cache, calls))]
async fn timed(cache: &Cache, calls: &AtomicUsize, id: u64) -> Result<String, String> {
    calls.fetch_add(1, Ordering::SeqCst);
    Ok(value(id))
}

/// Reads that need the key's time left (`stale_if_error`, `early_refresh`,
/// the in-process tier) batch too, with reads that do not: each gets its
/// own key's `PTTL`. Odd keys are past their logical expiry (in the stale
/// window), even keys fresh; a `PTTL` given to the wrong reader would turn
/// hits into runs or runs into hits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_with_their_time_left_batch_and_each_gets_its_own() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().expect("valid URL");
    let (timed_calls, untimed_calls) =
        (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    for id in (1..KEYS).step_by(2) {
        timed(&cache, &timed_calls, id).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for id in (0..KEYS).step_by(2) {
        timed(&cache, &timed_calls, id).await.unwrap();
    }
    for id in 0..KEYS {
        untimed(&cache, &untimed_calls, id).await;
    }
    assert_eq!(timed_calls.load(Ordering::SeqCst), KEYS as usize);

    let with_ttl = each_at_once(|id| {
        let (cache, calls) = (cache.clone(), timed_calls.clone());
        async move { timed(&cache, &calls, id).await }
    })
    .await;
    let without = each_at_once(|id| {
        let (cache, calls) = (cache.clone(), untimed_calls.clone());
        async move { untimed(&cache, &calls, id).await }
    })
    .await;
    for task in with_ttl {
        let (id, returned) = task.await.expect("no task panics");
        assert_eq!(returned, Ok(value(id)));
    }
    each_its_own(without).await;

    let stale_runs = KEYS as usize / 2;
    assert_eq!(
        timed_calls.load(Ordering::SeqCst),
        KEYS as usize + stale_runs,
        "odd keys ran"
    );
    assert_eq!(
        untimed_calls.load(Ordering::SeqCst),
        KEYS as usize,
        "all hits"
    );
    let stats = server.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_mget:"), "batched: {stats}");
    assert!(stats.contains("cmdstat_pttl:"), "{stats}");
}
