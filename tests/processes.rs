//! Several OS processes against one redis-server. This binary has its own
//! `main` (`harness = false` in Cargo.toml): it runs the scenarios below, and
//! the copies of itself that they start run as workers.

use cache_test_support as support;

use std::time::{Duration, Instant};

use support::processes::{self, Protection};
use support::RedisServer;

/// `[(name, function)]` for the scenarios.
macro_rules! scenarios {
    ($($scenario:ident),* $(,)?) => {
        [$((stringify!($scenario), $scenario as fn())),*]
    };
}

fn main() {
    if processes::run_worker_if_asked() {
        return;
    }
    let scenarios = scenarios![
        cold_key_with_lock_runs_once_across_processes,
        cold_key_without_lock_runs_once_per_process,
        a_killed_lease_holder_is_replaced_after_its_lease_expires,
        increments_under_the_lock_from_several_processes_are_never_lost,
        writes_from_another_process_reach_the_in_process_tier,
    ];
    let mut failed = Vec::new();
    for (name, scenario) in &scenarios {
        let started = Instant::now();
        match std::panic::catch_unwind(scenario) {
            Ok(()) => println!("test {name} ... ok ({:.1?})", started.elapsed()),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        scenarios.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

/// 4 processes x 64 callers of one cold key, `lock = true`: one run in all.
fn cold_key_with_lock_runs_once_across_processes() {
    let server = RedisServer::start();
    let tally = processes::cold_key(&server.url(), 4, 64, Protection::Lock, 1);
    assert_eq!(tally.calls, 256);
    assert_eq!(tally.wrong, 0, "{tally:?}");
    assert_eq!(tally.runs, 1, "one run across 4 processes: {tally:?}");
}

/// The control: without `lock`, each process coalesces its own callers only.
fn cold_key_without_lock_runs_once_per_process() {
    let server = RedisServer::start();
    let tally = processes::cold_key(&server.url(), 4, 64, Protection::Coalesce, 2);
    assert_eq!(tally.wrong, 0, "{tally:?}");
    assert_eq!(tally.runs, 4, "one run per process: {tally:?}");
}

/// A holder killed (SIGKILL) mid-computation stops renewing its lease; once
/// the lease expires, another process computes, well before its wait ends.
fn a_killed_lease_holder_is_replaced_after_its_lease_expires() {
    let server = RedisServer::start();
    let lease = [("LEASE_MS", "1000".to_owned()), ("KEY_ID", "3".to_owned())];
    let mut holder = processes::spawn(
        "hold",
        &server.url(),
        &[&lease[..], &[("WORK_MS", "60000".to_owned())]].concat(),
    );
    let _output = processes::wait_for_line(&mut holder, "computing");
    holder.kill().expect("SIGKILL the holder");
    holder.wait().unwrap();
    let killed = Instant::now();

    let successor = processes::spawn(
        "hold",
        &server.url(),
        &[&lease[..], &[("WORK_MS", "100".to_owned())]].concat(),
    );
    let tally = processes::tally(successor);
    assert_eq!((tally.runs, tally.wrong), (1, 0), "{tally:?}");
    // The successor waited for the dead holder's lease (renewed up to the
    // kill) to expire, and not for its own 30 s wait to run out.
    let waited = killed.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "it waited for the lease: {waited:?}"
    );
    assert!(waited < Duration::from_secs(10), "{waited:?}");
}

/// 4 processes x 50 read-modify-write increments of one counter, each under
/// the distributed lock: exactly 200, no increment lost.
fn increments_under_the_lock_from_several_processes_are_never_lost() {
    let server = RedisServer::start();
    let workers: Vec<_> = (0..4)
        .map(|_| processes::spawn("counter", &server.url(), &[("INCREMENTS", "50".to_owned())]))
        .collect();
    for worker in workers {
        let tally = processes::tally(worker);
        assert_eq!(tally.calls, 50);
    }
    assert_eq!(server.cli(&["GET", "counter"]), "200");
    assert_eq!(server.cli(&["EXISTS", "lock:counter"]), "0", "released");
}

/// How soon after another process's eviction (or write-through) the copy in
/// this process's in-process tier must be gone. Delivery is one pub/sub
/// message (well under a millisecond here); the bound leaves room for a
/// loaded machine.
const INVALIDATION_BOUND: Duration = Duration::from_millis(250);

/// Process A (this one) keeps a copy in its in-process tier; process B
/// evicts the entry, puts a new value, invalidates the entry's tag, then,
/// as another program would, `SET`s and `DEL`s the key with plain commands:
/// each time, A returns the fresh value within `INVALIDATION_BOUND` of B's
/// write returning.
fn writes_from_another_process_reach_the_in_process_tier() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::SystemTime;

    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = cache_runtime::Config::redis(server.url()).build().unwrap();
    let source = Arc::new(AtomicU64::new(100));
    let id = 7;
    runtime.block_on(support::until_local_hit(
        "current",
        Duration::from_secs(5),
        || processes::current(&cache, &source, id),
    ));
    source.store(150, Ordering::SeqCst);
    let copy = runtime.block_on(processes::current(&cache, &source, id));
    assert_eq!(copy, 107, "A serves its copy");

    // (B's action, the value it writes, what the function would now
    // return, what A must return).
    let steps = [
        ("evict", 0, 200, 207), // evicted: A runs the function again
        ("put", 42, 300, 42),   // written through: A returns the new value
        ("tag", 0, 400, 407),   // its tag invalidated: A runs the function again
        // Another program's `SET` (plain JSON, not the envelope a tagged
        // entry is kept in: a miss) and `DEL`: A runs the function again.
        ("set", 55, 500, 507),
        ("del", 0, 600, 607),
    ];
    for (action, value, now, fresh) in steps {
        // A holds a copy when B writes.
        runtime.block_on(support::until_local_hit(
            "current",
            Duration::from_secs(5),
            || processes::current(&cache, &source, id),
        ));
        source.store(now, Ordering::SeqCst);
        // A polls from before B starts, and notes when it first sees `fresh`.
        let polling = {
            let (cache, source) = (cache.clone(), source.clone());
            runtime.spawn(async move {
                while processes::current(&cache, &source, id).await != fresh {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                SystemTime::now()
            })
        };
        let written = processes::invalidate_from_another_process(
            &server.url(),
            &[
                ("ACTION", action.to_owned()),
                ("KEY_ID", id.to_string()),
                ("VALUE", value.to_string()),
            ],
        );
        let seen = runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(10), polling).await })
            .expect("A saw the fresh value")
            .unwrap();
        let stale_for = seen.duration_since(written).unwrap_or_default();
        println!("  {action}: fresh in the other process {stale_for:?} after the write returned");
        assert!(stale_for < INVALIDATION_BOUND, "{action}: {stale_for:?}");
    }
}
