//! The distributed lock against real redis-server processes. Mutual
//! exclusion across OS processes is in tests/processes.rs.

use cache_test_support as support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{Cache, Config, Error};
use support::RedisServer;

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

#[tokio::test]
async fn a_lock_is_a_key_with_the_holders_token_and_a_ttl() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let guard = cache
        .lock("report")
        .ttl(Duration::from_secs(30))
        .acquire()
        .await
        .unwrap();
    let token = server.cli(&["GET", "lock:report"]);
    assert_eq!(token.len(), 32, "128 random bits in hex: {token}");
    let ttl: u64 = server.cli(&["PTTL", "lock:report"]).parse().unwrap();
    assert!((29_000..=30_000).contains(&ttl), "{ttl}");
    guard.release().await.unwrap();
    // The lock is gone; its fencing counter stays (it must only grow).
    assert_eq!(server.keys(), ["{lock:report}:fence"]);
}

#[tokio::test]
async fn a_holder_whose_lock_expired_cannot_release_the_next_holders_lock() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let first = cache
        .lock("account:1")
        .ttl(Duration::from_millis(200))
        .acquire()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // a long pause: it expired
    let second = cache.lock("account:1").acquire().await.unwrap();
    let seconds_token = server.cli(&["GET", "lock:account:1"]);

    let error = first.release().await.unwrap_err();
    assert!(matches!(error, Error::LockLost { .. }), "{error}");
    assert!(
        error.to_string().contains("`account:1` was lost"),
        "{error}"
    );
    assert_eq!(
        server.cli(&["GET", "lock:account:1"]),
        seconds_token,
        "the second holder's lock is untouched"
    );
    second.release().await.unwrap();
}

#[tokio::test]
async fn a_waiter_gives_up_at_its_timeout_with_a_clear_error() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let _held = cache.lock("job").acquire().await.unwrap();

    let started = Instant::now();
    let error = cache
        .lock("job")
        .wait(Duration::from_millis(300))
        .acquire()
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(error, Error::LockTimeout { .. }), "{error}");
    assert!(
        error
            .to_string()
            .starts_with("lock `job` not acquired within"),
        "{error}"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(
        cache.lock("job").try_acquire().await.unwrap().is_none(),
        "still held"
    );
}

#[tokio::test]
async fn extend_keeps_the_lock_past_its_first_ttl() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let guard = cache
        .lock("slow")
        .ttl(Duration::from_millis(300))
        .acquire()
        .await
        .unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        guard.extend(Duration::from_millis(300)).await.unwrap();
    }
    assert!(cache.lock("slow").try_acquire().await.unwrap().is_none());
    guard.release().await.unwrap();
}

#[tokio::test]
async fn the_watchdog_extends_while_the_guard_lives() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let guard = cache
        .lock("watched")
        .ttl(Duration::from_millis(300))
        .watchdog(true)
        .acquire()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await; // three TTLs
    assert!(!guard.is_lost());
    assert!(cache.lock("watched").try_acquire().await.unwrap().is_none());
    drop(guard); // released by a spawned task
    let started = Instant::now();
    while server.cli(&["EXISTS", "lock:watched"]) == "1" {
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "released on drop"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_watchdog_notices_a_lost_lock() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let guard = cache
        .lock("stolen")
        .ttl(Duration::from_millis(300))
        .watchdog(true)
        .acquire()
        .await
        .unwrap();
    server.cli(&["SET", "lock:stolen", "someone-else"]);
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(guard.is_lost());
    assert!(matches!(
        guard.release().await.unwrap_err(),
        Error::LockLost { .. }
    ));
    assert_eq!(server.cli(&["GET", "lock:stolen"]), "someone-else");
}

#[test]
fn sync_code_takes_and_releases_locks_too() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let guard = cache.lock("nightly").acquire_blocking().unwrap();
    assert!(cache
        .lock("nightly")
        .try_acquire_blocking()
        .unwrap()
        .is_none());
    guard.extend_blocking(Duration::from_secs(5)).unwrap();
    guard.release_blocking().unwrap();
    assert!(cache
        .lock("nightly")
        .try_acquire_blocking()
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_take_turns() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (cache, inside) = (cache.clone(), inside.clone());
            tokio::spawn(async move {
                for _ in 0..5 {
                    let guard = cache.lock("turns").acquire().await.unwrap();
                    let now = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    assert_eq!(now, 0, "two holders at once");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    guard.release().await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

#[tokio::test]
async fn locks_do_not_fail_open_when_redis_is_down() {
    let mut server = RedisServer::start();
    let cache = cache_for(&server);
    server.stop();
    let error = cache.lock("x").acquire().await.unwrap_err();
    assert!(
        !matches!(error, Error::LockTimeout { .. }),
        "a store error, not a lock that excludes nobody: {error}"
    );
}
