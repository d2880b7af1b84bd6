//! Resilience against real faults, each on its own redis-server: refused,
//! unresponsive, killed and restarted under load, hung (SIGSTOP), wrong
//! password, garbage at the key. Every call must return the function's
//! correct result; the bounds below are behaviour (a call never waits on
//! Redis without limit), with wide margins for a shared machine. The same
//! scenarios print docs/RELIABILITY.md's figures: `cargo run --release -p cache-perf --bin reliability`.

use cache_test_support as support;

use std::time::Duration;

use support::faults::{self, Report};

/// Op timeout (50 ms) and connect timeout (500 ms) are the defaults; a call
/// may add one of them, plus scheduling on a busy machine.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const OP_TIMEOUT: Duration = Duration::from_millis(50);
const SLACK: Duration = Duration::from_secs(1);

fn assert_all_correct(report: &Report) {
    println!("{report:?}");
    assert!(report.calls > 0, "{report:?}");
    assert_eq!(report.failed, 0, "every call returns: {report:?}");
    assert_eq!(
        report.wrong, 0,
        "every call returns the right value: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn never_started_calls_succeed_without_waiting() {
    let report = faults::never_started().await;
    assert_all_correct(&report);
    // Refused connections are immediate; the breaker then skips Redis.
    assert!(report.worst_added < CONNECT_TIMEOUT + SLACK, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresponsive_server_costs_one_connect_timeout_then_nothing() {
    let report = faults::unresponsive().await;
    assert_all_correct(&report);
    assert!(report.worst_added < CONNECT_TIMEOUT + SLACK, "{report:?}");
    assert!(
        report.median_added < OP_TIMEOUT,
        "the breaker skips Redis: {report:?}"
    );
    // Over 3 s, a cool-down of 1 s: were probes calls, a second call would
    // wait the connect timeout at 1.5 s.
    assert_eq!(
        report.waited, 1,
        "only the first call waits; the prober probes: {report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_under_load_and_restarted_loses_no_call_and_resumes_hits() {
    let report = faults::killed_and_restarted().await;
    assert_all_correct(&report);
    let resumed = report.resumed_after.expect("hits resume after the restart");
    assert!(resumed < Duration::from_secs(10), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_server_bounds_every_call_and_resumes_hits() {
    let report = faults::hung().await;
    assert_all_correct(&report);
    assert!(report.worst_added < OP_TIMEOUT + SLACK, "{report:?}");
    assert!(report.resumed_after.expect("hits resume after SIGCONT") < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_calls_succeed() {
    let report = faults::wrong_password().await;
    assert_all_correct(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_of_every_kind_is_recomputed_and_overwritten() {
    let report = faults::garbage().await;
    assert_all_correct(&report);
    assert!(report.note.starts_with("6 of 6 kinds"), "{report:?}");
}

mod limits {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use cache_runtime::{cache_result, Cache, Config};

    use super::support::{self, RedisServer};

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn report(cache: &Cache, calls: &AtomicUsize, size: usize) -> String {
        calls.fetch_add(1, Ordering::SeqCst);
        "x".repeat(size)
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn by_pair(cache: &Cache, calls: &AtomicUsize, map: BTreeMap<(u8, u8), u8>) -> usize {
        calls.fetch_add(1, Ordering::SeqCst);
        map.len()
    }

    #[tokio::test]
    async fn results_over_the_size_limit_are_returned_but_not_stored() {
        let server = RedisServer::start();
        let cache = Config::redis(server.url())
            .max_value_bytes(1024)
            .build()
            .unwrap();
        let calls = AtomicUsize::new(0);

        assert_eq!(report(&cache, &calls, 4096).await.len(), 4096);
        assert_eq!(report(&cache, &calls, 4096).await.len(), 4096);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(server.keys().is_empty());

        report(&cache, &calls, 10).await;
        assert_eq!(server.keys().len(), 1, "small results are still stored");
    }

    #[tokio::test]
    async fn arguments_that_do_not_serialize_run_uncached() {
        let server = RedisServer::start();
        let cache = Config::redis(server.url()).build().unwrap();
        let calls = AtomicUsize::new(0);
        let map = BTreeMap::from([((1, 2), 3)]); // JSON maps need string keys

        assert_eq!(by_pair(&cache, &calls, map.clone()).await, 1);
        assert_eq!(by_pair(&cache, &calls, map).await, 1);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(server.keys().is_empty());
    }

    #[test]
    fn max_value_bytes_applies_to_the_embedded_store_too() {
        let cache = Config::embedded().max_value_bytes(8).build().unwrap();
        let runtime = support::current_thread_runtime();
        let calls = AtomicUsize::new(0);
        runtime.block_on(report(&cache, &calls, 100));
        runtime.block_on(report(&cache, &calls, 100));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }
}
