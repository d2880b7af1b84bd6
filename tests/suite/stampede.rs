//! Stampede protection, early refresh, jitter and serve-stale, against real
//! redis-server processes started by each test.
//!
//! Every function here is used by one test only, so that its counters
//! (`function!(f).stats()`) count that test's calls alone.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cache_result, entry, function, Cache, Config};
use support::RedisServer;

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

fn runs(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}

/// `tasks` concurrent calls of `call`, on the current runtime; their results.
async fn concurrently<F, Fut, T>(tasks: usize, call: F) -> Vec<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..tasks).map(|_| tokio::spawn(call())).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("no task panics"));
    }
    results
}

mod coalescing {
    use super::*;

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn report(cache: &Cache, calls: &AtomicUsize, id: u64) -> Vec<u64> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        vec![id; 3]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_of_a_cold_key_share_one_run() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));

        let results = concurrently(256, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move { report(&cache, &calls, 7).await }
        })
        .await;

        assert_eq!(runs(&calls), 1, "256 callers, one run");
        assert!(results.iter().all(|result| *result == vec![7, 7, 7]));
        let stats = function!(report).stats();
        assert_eq!((stats.misses, stats.coalesced), (1, 255), "{stats:?}");
        assert_eq!(stats.executions, 1);
        // The leader stored before the waiters returned: the next call hits.
        report(&cache, &calls, 7).await;
        assert_eq!(runs(&calls), 1);
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn quick(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        id
    }

    /// Calls read before they join a flight. With a function this fast,
    /// many read (and miss) just before the leader's write and join just
    /// after its flight closed: they must find the value, not run again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_who_missed_just_before_a_write_do_not_run_again() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));
        for id in 0..300 {
            concurrently(16, || {
                let (cache, calls) = (cache.clone(), calls.clone());
                async move { quick(&cache, &calls, id).await }
            })
            .await;
        }
        assert_eq!(runs(&calls), 300, "one run per key");
        let stats = function!(quick).stats();
        assert_eq!(stats.misses, 300, "{stats:?}");
        assert_eq!(stats.hits + stats.coalesced, 300 * 15, "{stats:?}");
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls), coalesce = false)]
    async fn uncoalesced(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn coalesce_false_lets_every_caller_run() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));
        concurrently(16, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move { uncoalesced(&cache, &calls, 1).await }
        })
        .await;
        assert_eq!(runs(&calls), 16);
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    fn blocking_report(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        id * 2
    }

    #[test]
    fn sync_callers_share_one_run_too() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = AtomicUsize::new(0);
        let results: Vec<u64> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| blocking_report(&cache, &calls, 21)))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(runs(&calls), 1);
        assert!(results.iter().all(|result| *result == 42));
    }
}

/// What the waiters get when the one run does not give a value.
mod outcomes {
    use super::*;

    /// Not `Clone`: an error cannot be handed to the waiters.
    #[derive(Debug)]
    pub struct Opaque;

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn fails_first(cache: &Cache, calls: &AtomicUsize, id: u64) -> Result<u64, Opaque> {
        let run = calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        match run {
            0 => Err(Opaque),
            _ => Ok(id),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_an_error_that_cannot_be_shared_one_waiter_runs_for_the_rest() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));
        let results = concurrently(16, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move { fails_first(&cache, &calls, 5).await }
        })
        .await;

        assert_eq!(
            runs(&calls),
            2,
            "the failed run, then one run for the waiters"
        );
        assert_eq!(
            results.iter().filter(|r| r.is_err()).count(),
            1,
            "the leader's own error"
        );
        assert_eq!(results.iter().filter(|r| matches!(r, Ok(5))).count(), 15);
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn shared_error(
        cache: &Cache,
        calls: &AtomicUsize,
        id: u64,
    ) -> Result<u64, Arc<std::io::Error>> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        Err(Arc::new(std::io::Error::other(format!("db down for {id}"))))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_error_that_is_clone_is_shared_with_every_waiter() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));
        let results = concurrently(64, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move { shared_error(&cache, &calls, 5).await }
        })
        .await;
        assert_eq!(runs(&calls), 1, "a failing backend sees one call, not 64");
        assert!(results
            .iter()
            .all(|r| r.as_ref().is_err_and(|e| e.to_string() == "db down for 5")));
        assert!(server.keys().is_empty(), "errors are never stored");
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn none_for_all(cache: &Cache, calls: &AtomicUsize, id: u64) -> Option<String> {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        (id == 0).then(String::new)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn none_is_shared_and_not_stored() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));
        let results = concurrently(16, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move { none_for_all(&cache, &calls, 9).await }
        })
        .await;
        assert_eq!(runs(&calls), 1);
        assert!(results.iter().all(Option::is_none));
        assert!(server.keys().is_empty());
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn slow(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        id + 1
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_leader_does_not_strand_its_waiters() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));

        // The leader gives up after 50 ms (a client hung up): its future is dropped.
        let leader = tokio::time::timeout(Duration::from_millis(50), slow(&cache, &calls, 1));
        let waiters = concurrently(8, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                slow(&cache, &calls, 1).await
            }
        });
        let (leader, waiters) = tokio::join!(leader, waiters);

        assert!(leader.is_err(), "the leader was cancelled");
        assert!(waiters.iter().all(|result| *result == 2), "{waiters:?}");
        assert_eq!(
            runs(&calls),
            2,
            "the cancelled run, then one for the waiters"
        );
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn panics_first(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        let run = calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(run > 0, "the first run panics");
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_leader_passes_the_run_to_a_waiter() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = Arc::new(AtomicUsize::new(0));
        let (first_cache, first_calls) = (cache.clone(), calls.clone());
        let leader = tokio::spawn(async move { panics_first(&first_cache, &first_calls, 3).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiters = concurrently(8, || {
            let (cache, calls) = (cache.clone(), calls.clone());
            async move { panics_first(&cache, &calls, 3).await }
        })
        .await;
        assert!(leader.await.unwrap_err().is_panic());
        assert!(waiters.iter().all(|result| *result == 3));
        assert_eq!(runs(&calls), 2);
    }
}

/// `lock = true`: one computation across processes. Each `Cache` here has
/// its own connection, flights and leases, as a separate process would;
/// tests/processes.rs does the same with real OS processes.
mod across_clients {
    use super::*;

    #[cache_result(expire = 60, store = cache, skip(cache, calls), lock = true)]
    async fn locked(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        id * 10
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn unlocked(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        id * 10
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn with_lock_one_client_computes_and_the_others_wait() {
        let server = RedisServer::start();
        let calls = Arc::new(AtomicUsize::new(0));
        let clients: Vec<Cache> = (0..4).map(|_| cache_for(&server)).collect();
        let next = AtomicUsize::new(0);
        let results = concurrently(4 * 32, || {
            let cache = clients[next.fetch_add(1, Ordering::SeqCst) % clients.len()].clone();
            let calls = calls.clone();
            async move { locked(&cache, &calls, 4).await }
        })
        .await;
        assert_eq!(runs(&calls), 1, "4 clients x 32 callers, one run");
        assert!(results.iter().all(|result| *result == 40));
        assert!(
            !server.keys().iter().any(|key| key.ends_with(":lease")),
            "the lease is released: {:?}",
            server.keys()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_lock_each_client_computes_once() {
        let server = RedisServer::start();
        let calls = Arc::new(AtomicUsize::new(0));
        let clients: Vec<Cache> = (0..4).map(|_| cache_for(&server)).collect();
        let all = clients.iter().map(|cache| {
            let (cache, calls) = (cache.clone(), calls.clone());
            tokio::spawn(async move {
                concurrently(8, || {
                    let (cache, calls) = (cache.clone(), calls.clone());
                    async move { unlocked(&cache, &calls, 4).await }
                })
                .await
            })
        });
        for handle in all.collect::<Vec<_>>() {
            handle.await.unwrap();
        }
        assert_eq!(runs(&calls), 4, "coalesced within each client, not across");
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls), lock = true)]
    async fn after_holder(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[tokio::test]
    async fn a_lease_whose_holder_is_gone_expires_and_a_waiter_computes() {
        let server = RedisServer::start();
        let cache = Config::redis(server.url())
            .lock_times(Duration::from_millis(800), Duration::from_secs(10))
            .build()
            .unwrap();
        let calls = AtomicUsize::new(0);
        // A holder that died: its lease is there, no value will come.
        let key = entry!(after_holder(&cache, &calls, 8))
            .key()
            .unwrap()
            .to_owned();
        server.cli(&["SET", &format!("{key}:lease"), "someone-else", "PX", "800"]);

        let started = Instant::now();
        assert_eq!(after_holder(&cache, &calls, 8).await, 8);
        assert_eq!(runs(&calls), 1);
        assert!(
            started.elapsed() >= Duration::from_millis(500),
            "waited for the dead holder's lease: {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_waiter_gives_up_after_the_wait_and_computes() {
        let server = RedisServer::start();
        let cache = Config::redis(server.url())
            .lock_times(Duration::from_secs(30), Duration::from_millis(300))
            .build()
            .unwrap();
        let calls = AtomicUsize::new(0);
        let key = entry!(after_holder(&cache, &calls, 9))
            .key()
            .unwrap()
            .to_owned();
        server.cli(&[
            "SET",
            &format!("{key}:lease"),
            "stuck-holder",
            "PX",
            "30000",
        ]);

        assert_eq!(after_holder(&cache, &calls, 9).await, 9);
        assert_eq!(runs(&calls), 1);
        assert_eq!(
            server.cli(&["GET", &format!("{key}:lease")]),
            "stuck-holder",
            "a waiter never deletes another holder's lease"
        );
    }
}

mod early_refresh {
    use super::*;

    type Log = std::sync::Mutex<Vec<Instant>>;

    /// 100 ms of work behind a 2 s TTL, refreshed early; logs when it runs.
    /// XFetch starts refreshing about `run_time * ln(calls per run_time)`
    /// before expiry, here ~0.6 s (never more than half the TTL): room for a
    /// refresh slowed down by a busy machine to finish before the key
    /// expires.
    #[cache_result(expire = 2, store = cache, skip(cache, runs), early_refresh = true)]
    async fn hot(cache: &Cache, runs: &Log, id: u64) -> u64 {
        runs.lock().unwrap().push(Instant::now());
        tokio::time::sleep(Duration::from_millis(100)).await;
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hot_key_under_load_is_refreshed_before_expiry_and_never_misses() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let runs = Arc::new(Log::default());
        let started = Instant::now();
        let load = Duration::from_millis(7_000); // three and a half TTLs

        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (cache, runs) = (cache.clone(), runs.clone());
                tokio::spawn(async move {
                    while started.elapsed() < load {
                        assert_eq!(hot(&cache, &runs, 1).await, 1);
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }

        let stats = function!(hot).stats();
        assert_eq!(stats.misses, 1, "only the cold start misses: {stats:?}");
        assert!(stats.refreshes >= 2, "refreshed each period: {stats:?}");
        assert_eq!(stats.executions, 1 + stats.refreshes, "{stats:?}");
        // At most one run per TTL period: runs are a good part of a TTL apart.
        let runs = runs.lock().unwrap().clone();
        assert_eq!(runs.len() as u64, stats.executions);
        for pair in runs.windows(2) {
            assert!(
                pair[1] - pair[0] >= Duration::from_secs(1),
                "runs too close: {:?}",
                runs.iter().map(|run| *run - started).collect::<Vec<_>>()
            );
        }
    }
}

/// A function whose arguments are owned refreshes behind its callers: the
/// caller that finds the value due gets it at once, and a task of its own
/// runs the function and stores its result.
mod refresh_behind {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;

    use super::*;

    static CACHE: OnceLock<Cache> = OnceLock::new();
    static SOURCE: AtomicU64 = AtomicU64::new(1000);
    static RUNS: AtomicU64 = AtomicU64::new(0);
    /// Holds every run after the first until the test lets it go.
    static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    /// 100 ms of work behind a 2 s TTL, refreshed early with a large beta:
    /// past half the TTL, a hit is due. The store is a static, so that no
    /// argument is borrowed.
    #[cache_result(expire = 2, early_refresh = 1000, store = CACHE.get().unwrap())]
    async fn quote(id: u64, currency: String) -> String {
        let value = SOURCE.load(Ordering::SeqCst) + id;
        if RUNS.fetch_add(1, Ordering::SeqCst) > 0 {
            GATE.notified().await;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        format!("{value} {currency}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_caller_that_finds_a_value_due_gets_it_at_once() {
        let server = RedisServer::start();
        CACHE.set(cache_for(&server)).expect("set once");
        let call = || quote(1, "EUR".to_owned());
        assert_eq!(call().await, "1001 EUR");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        SOURCE.store(2000, Ordering::SeqCst);

        // Due: the refresh waits on the gate, the callers do not.
        for _ in 0..5 {
            let answer = tokio::time::timeout(Duration::from_secs(5), call()).await;
            assert_eq!(answer.expect("not held by the refresh"), "1001 EUR");
        }
        assert_eq!(
            RUNS.load(Ordering::SeqCst),
            2,
            "one refresh for all of them"
        );
        GATE.notify_one();
        let deadline = Instant::now() + Duration::from_secs(5);
        while call().await != "2001 EUR" {
            assert!(Instant::now() < deadline, "the refresh stored its result");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = function!(quote).stats();
        assert_eq!((stats.misses, stats.refreshes), (1, 1), "{stats:?}");
    }
}

/// `soft_timeout`: a miss with a stale value at hand waits that long for
/// the function, then returns the stale value while the function finishes
/// in a task of its own and stores its result.
mod soft_timeout {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;

    use super::*;

    static CACHE: OnceLock<Cache> = OnceLock::new();
    static SOURCE: AtomicU64 = AtomicU64::new(1000);
    static RUNS: AtomicU64 = AtomicU64::new(0);
    /// Holds every run after the first until the test lets it go.
    static GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    #[cache_result(expire = 1, stale = "30s", soft_timeout = "1s", store = CACHE.get().unwrap())]
    async fn rate(pair: String) -> String {
        let value = SOURCE.load(Ordering::SeqCst);
        if RUNS.fetch_add(1, Ordering::SeqCst) > 0 {
            GATE.notified().await;
        }
        format!("{pair} {value}")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_slow_function_gives_way_to_the_stale_value_and_finishes_behind() {
        let server = RedisServer::start();
        CACHE.set(cache_for(&server)).expect("set once");
        let call = || rate("EURUSD".to_owned());
        assert_eq!(call().await, "EURUSD 1000");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        SOURCE.store(2000, Ordering::SeqCst);

        // Expired, in the stale window; the function is held on the gate.
        let answer = tokio::time::timeout(Duration::from_secs(5), call()).await;
        assert_eq!(answer.expect("past the soft timeout"), "EURUSD 1000");
        assert_eq!(function!(rate).stats().stale, 1);
        GATE.notify_one();
        let deadline = Instant::now() + Duration::from_secs(5);
        while call().await != "EURUSD 2000" {
            assert!(Instant::now() < deadline, "the task stored its result");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Within the soft timeout, the caller gets the function's result.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        SOURCE.store(3000, Ordering::SeqCst);
        GATE.notify_one(); // the next run passes at once
        assert_eq!(call().await, "EURUSD 3000");
        // Calls that came while the task ran got the stale value; none
        // started another run.
        let stats = function!(rate).stats();
        assert!(stats.stale >= 1 && stats.executions == 3, "{stats:?}");
    }
}

/// Two clients (two caches, as two processes would have) share one key,
/// through a key template, and its lease: with `lock = true`, one refresh
/// and one soft-timed computation run for both.
mod lease_shared_by_clients {
    use std::sync::atomic::AtomicU64;
    use std::sync::OnceLock;

    use super::*;

    static ONE: OnceLock<Cache> = OnceLock::new();
    static OTHER: OnceLock<Cache> = OnceLock::new();

    /// A run: the first takes 100 ms (a run time for XFetch to weigh), the
    /// later ones wait for the gate.
    async fn run(runs: &AtomicU64, gate: &tokio::sync::Notify, id: u64) -> u64 {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        match run {
            0 => tokio::time::sleep(Duration::from_millis(100)).await,
            _ => gate.notified().await,
        }
        id + 1000 * (run + 1)
    }

    static REFRESH_RUNS: AtomicU64 = AtomicU64::new(0);
    static REFRESH_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    #[cache_result(expire = 2, early_refresh = 1000, lock = true, key = "refreshed:{id}", store = ONE.get().unwrap())]
    async fn refreshed_one(id: u64) -> u64 {
        run(&REFRESH_RUNS, &REFRESH_GATE, id).await
    }

    #[cache_result(expire = 2, early_refresh = 1000, lock = true, key = "refreshed:{id}", store = OTHER.get().unwrap())]
    async fn refreshed_other(id: u64) -> u64 {
        run(&REFRESH_RUNS, &REFRESH_GATE, id).await
    }

    static SOFT_RUNS: AtomicU64 = AtomicU64::new(0);
    static SOFT_GATE: tokio::sync::Notify = tokio::sync::Notify::const_new();

    #[cache_result(expire = 1, stale = "30s", soft_timeout = "500ms", lock = true, key = "soft:{id}", store = ONE.get().unwrap())]
    async fn soft_one(id: u64) -> u64 {
        run(&SOFT_RUNS, &SOFT_GATE, id).await
    }

    #[cache_result(expire = 1, stale = "30s", soft_timeout = "500ms", lock = true, key = "soft:{id}", store = OTHER.get().unwrap())]
    async fn soft_other(id: u64) -> u64 {
        run(&SOFT_RUNS, &SOFT_GATE, id).await
    }

    fn caches(server: &RedisServer) {
        ONE.get_or_init(|| cache_for(server));
        OTHER.get_or_init(|| cache_for(server));
    }

    /// Both tests share the two caches, so they run as one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_refresh_and_one_slow_run_for_both_clients() {
        let server = RedisServer::start();
        caches(&server);

        // Early refresh: both clients find the value due; one refresh runs.
        assert_eq!(refreshed_one(1).await, 1001);
        assert_eq!(soft_one(1).await, 1001);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        for _ in 0..3 {
            assert_eq!(refreshed_one(1).await, 1001);
            assert_eq!(refreshed_other(1).await, 1001);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            REFRESH_RUNS.load(Ordering::SeqCst),
            2,
            "one refresh for both"
        );
        REFRESH_GATE.notify_one();
        let deadline = Instant::now() + Duration::from_secs(5);
        while refreshed_other(1).await != 2001 {
            assert!(Instant::now() < deadline, "the refresh stored its result");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // Soft timeout: one client runs the function under the lease; the
        // other waits for it no longer than its soft timeout either.
        let first = tokio::spawn(soft_one(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let second = tokio::time::timeout(Duration::from_secs(5), soft_other(1)).await;
        assert_eq!(second.expect("within the soft timeout"), 1001, "stale");
        assert_eq!(first.await.unwrap(), 1001, "stale");
        assert_eq!(SOFT_RUNS.load(Ordering::SeqCst), 2, "one run for both");
        SOFT_GATE.notify_one();
        let deadline = Instant::now() + Duration::from_secs(5);
        while soft_other(1).await != 2001 {
            assert!(Instant::now() < deadline, "the run stored its result");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

mod jitter {
    use super::*;

    #[cache_result(expire = 1000, store = cache, skip(cache), jitter = 0.5)]
    async fn spread(cache: &Cache, id: u64) -> u64 {
        id
    }

    #[tokio::test]
    async fn ttls_are_spread_within_the_fraction_and_never_past_expire() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let mut ttls = Vec::new();
        for id in 0..40 {
            spread(&cache, id).await;
            let ttl = entry!(spread(&cache, id)).ttl().await.unwrap().unwrap();
            ttls.push(ttl.as_secs());
        }
        assert!(
            ttls.iter().all(|ttl| (499..=1000).contains(ttl)),
            "{ttls:?}"
        );
        ttls.sort();
        ttls.dedup();
        assert!(ttls.len() >= 20, "spread out, not equal: {ttls:?}");
    }
}

mod stale {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    pub struct DbDown;

    #[cache_result(expire = 1, stale_if_error = 2, store = cache, skip(cache, up))]
    async fn price(
        cache: &Cache,
        up: &std::sync::atomic::AtomicBool,
        id: u64,
    ) -> Result<u64, DbDown> {
        match up.load(Ordering::SeqCst) {
            true => Ok(id * 100),
            false => Err(DbDown),
        }
    }

    #[tokio::test]
    async fn after_expiry_a_failure_returns_the_last_good_value_within_the_window() {
        use std::sync::atomic::AtomicBool;
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let up = AtomicBool::new(true);

        assert_eq!(price(&cache, &up, 3).await, Ok(300));
        let ttl = entry!(price(&cache, &up, 3)).ttl().await.unwrap().unwrap();
        assert!(
            ttl > Duration::from_secs(2),
            "kept for the stale window: {ttl:?}"
        );

        up.store(false, Ordering::SeqCst);
        assert_eq!(price(&cache, &up, 3).await, Ok(300), "fresh: a hit");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            price(&cache, &up, 3).await,
            Ok(300),
            "expired, the function fails: the stale value"
        );
        assert_eq!(function!(price).stats().stale, 1);

        up.store(true, Ordering::SeqCst);
        assert_eq!(price(&cache, &up, 4).await, Ok(400));
        up.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(3200)).await;
        assert_eq!(
            price(&cache, &up, 4).await,
            Err(DbDown),
            "past the stale window: the error"
        );
    }

    #[cache_result(expire = 1, stale_if_error = 30, store = cache, skip(cache, calls))]
    async fn recovers(cache: &Cache, calls: &AtomicUsize, id: u64) -> Result<u64, String> {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok(id + calls.load(Ordering::SeqCst) as u64)
    }

    #[tokio::test]
    async fn an_expired_value_is_recomputed_when_the_function_succeeds() {
        let server = RedisServer::start();
        let cache = cache_for(&server);
        let calls = AtomicUsize::new(0);
        assert_eq!(recovers(&cache, &calls, 10).await, Ok(11));
        assert_eq!(recovers(&cache, &calls, 10).await, Ok(11), "a hit");
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(
            recovers(&cache, &calls, 10).await,
            Ok(12),
            "expired: run again"
        );
        assert_eq!(recovers(&cache, &calls, 10).await, Ok(12), "and stored");
    }
}
