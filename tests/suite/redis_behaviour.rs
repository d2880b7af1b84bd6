//! `#[cache_result]` against a real redis-server started by each test.
//!
//! Every cached function here counts its executions in a skipped `calls`
//! argument and takes its store from a skipped `cache` argument, so tests
//! running in parallel never share a server or a counter.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::key::KeyHasher;
use cache_runtime::{cache_result, Cache, Config};
use serde::{Deserialize, Serialize};
use support::RedisServer;

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

fn count(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
}

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn profile(cache: &Cache, calls: &AtomicUsize, id: u64, name: &str) -> Profile {
    calls.fetch_add(1, Ordering::SeqCst);
    Profile {
        id,
        name: name.to_owned(),
        tags: vec!["a".into()],
    }
}

#[tokio::test]
async fn first_call_runs_and_second_identical_call_is_a_hit() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    let first = profile(&cache, &calls, 7, "ann").await;
    let second = profile(&cache, &calls, 7, "ann").await;

    assert_eq!(count(&calls), 1, "the second call must come from Redis");
    assert_eq!(first, second);
    assert_eq!(server.keys().len(), 1);
}

#[tokio::test]
async fn different_arguments_run_again() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    profile(&cache, &calls, 7, "ann").await;
    profile(&cache, &calls, 8, "ann").await;
    profile(&cache, &calls, 7, "bob").await;
    profile(&cache, &calls, 7, "ann").await;

    assert_eq!(count(&calls), 3);
    assert_eq!(server.keys().len(), 3);
}

#[tokio::test]
async fn skipped_arguments_do_not_change_the_key() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let (calls_a, calls_b) = (AtomicUsize::new(0), AtomicUsize::new(0));

    // `calls` is skipped: two different counters, one key.
    profile(&cache, &calls_a, 1, "ann").await;
    profile(&cache, &calls_b, 1, "ann").await;

    assert_eq!((count(&calls_a), count(&calls_b)), (1, 0));
}

#[tokio::test]
async fn ttl_on_the_key_equals_expire() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    profile(&cache, &AtomicUsize::new(0), 1, "ann").await;

    let key = &server.keys()[0];
    let ttl: u64 = server.cli(&["TTL", key]).parse().expect("TTL is a number");
    assert!(
        (59..=60).contains(&ttl),
        "TTL {ttl} should be 60 within 1 s"
    );
}

#[tokio::test]
async fn stored_value_is_plain_json_and_key_has_the_documented_format() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    profile(&cache, &AtomicUsize::new(0), 42, "ann").await;

    // The key the runtime documents:
    // <prefix>:<crate::module::fn>:<md5 of ["identity","stored type",args...]>.
    let expected_key = cache.key(
        &KeyHasher::new("suite::redis_behaviour::profile")
            .arg("suite::redis_behaviour::Profile")
            .arg(&42u64)
            .arg("ann")
            .finish()
            .unwrap(),
    );
    assert_eq!(server.keys(), vec![expected_key.clone()]);
    assert_eq!(
        server.cli(&["GET", &expected_key]),
        r#"{"id":42,"name":"ann","tags":["a"]}"#
    );
}

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn fallible(cache: &Cache, calls: &AtomicUsize, fail: bool) -> Result<u32, NotSerde> {
    calls.fetch_add(1, Ordering::SeqCst);
    if fail {
        Err(NotSerde)
    } else {
        Ok(5)
    }
}

/// An error type with no serde at all: `Result<T, E>` must not need it.
#[derive(Debug, PartialEq)]
struct NotSerde;

#[tokio::test]
async fn err_is_returned_and_not_stored() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    assert_eq!(fallible(&cache, &calls, true).await, Err(NotSerde));
    assert_eq!(fallible(&cache, &calls, true).await, Err(NotSerde));
    assert_eq!(count(&calls), 2, "an Err must not be served from the cache");
    assert!(server.keys().is_empty());

    assert_eq!(fallible(&cache, &calls, false).await, Ok(5));
    assert_eq!(fallible(&cache, &calls, false).await, Ok(5));
    assert_eq!(count(&calls), 3);
    assert_eq!(server.cli(&["GET", &server.keys()[0]]), "5");
}

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn lookup(cache: &Cache, calls: &AtomicUsize, id: u64) -> Option<String> {
    calls.fetch_add(1, Ordering::SeqCst);
    (id > 0).then(|| format!("user {id}"))
}

#[cache_result(expire = 60, store = cache, skip(cache, calls), cache_none = true)]
async fn lookup_caching_none(cache: &Cache, calls: &AtomicUsize, id: u64) -> Option<String> {
    calls.fetch_add(1, Ordering::SeqCst);
    (id > 0).then(|| format!("user {id}"))
}

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn find_row(cache: &Cache, calls: &AtomicUsize, id: u64) -> Result<Option<String>, NotSerde> {
    calls.fetch_add(1, Ordering::SeqCst);
    Ok((id > 0).then(|| format!("row {id}")))
}

#[tokio::test]
async fn none_is_not_stored_by_default() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    assert_eq!(lookup(&cache, &calls, 0).await, None);
    assert_eq!(lookup(&cache, &calls, 0).await, None);
    assert_eq!(count(&calls), 2);
    assert!(server.keys().is_empty());

    assert_eq!(lookup(&cache, &calls, 3).await.as_deref(), Some("user 3"));
    assert_eq!(lookup(&cache, &calls, 3).await.as_deref(), Some("user 3"));
    assert_eq!(count(&calls), 3);
}

#[tokio::test]
async fn ok_none_is_not_stored_and_ok_some_is() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    assert_eq!(find_row(&cache, &calls, 0).await, Ok(None));
    assert_eq!(find_row(&cache, &calls, 0).await, Ok(None));
    assert_eq!(find_row(&cache, &calls, 9).await, Ok(Some("row 9".into())));
    assert_eq!(find_row(&cache, &calls, 9).await, Ok(Some("row 9".into())));
    assert_eq!(count(&calls), 3);
}

#[tokio::test]
async fn cache_none_stores_none_as_json_null() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    assert_eq!(lookup_caching_none(&cache, &calls, 0).await, None);
    assert_eq!(lookup_caching_none(&cache, &calls, 0).await, None);
    assert_eq!(count(&calls), 1);
    assert_eq!(server.cli(&["GET", &server.keys()[0]]), "null");
}

/// A free function and a method with the same name and arguments.
#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn total(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n
}

struct Repo;

impl Repo {
    #[cache_result(expire = 60, store = cache, skip(self, cache, calls))]
    async fn total(&self, cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        n * 100
    }
}

mod other {
    use super::*;

    /// Same name and arguments as `super::total`, another module.
    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    pub(super) async fn total(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        n * 10
    }
}

#[tokio::test]
async fn same_names_in_a_module_an_impl_and_another_module_do_not_collide() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    for _ in 0..2 {
        assert_eq!(total(&cache, &calls, 3).await, 3);
        assert_eq!(Repo.total(&cache, &calls, 3).await, 300);
        assert_eq!(other::total(&cache, &calls, 3).await, 30);
    }

    assert_eq!(
        count(&calls),
        3,
        "each function runs once, then hits its own key"
    );
    let identities: Vec<String> = server
        .keys()
        .iter()
        .map(|key| key.rsplit_once(':').unwrap().0.to_owned())
        .collect();
    assert_eq!(
        identities,
        vec![
            "cache:suite::redis_behaviour::Repo::total",
            "cache:suite::redis_behaviour::other::total",
            "cache:suite::redis_behaviour::total",
        ]
    );
}

/// A receiver that is `Serialize` and not skipped is part of the key.
#[derive(Serialize)]
struct Tenant {
    id: u32,
}

impl Tenant {
    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn greeting(&self, cache: &Cache, calls: &AtomicUsize) -> String {
        calls.fetch_add(1, Ordering::SeqCst);
        format!("hello tenant {}", self.id)
    }
}

#[tokio::test]
async fn serializable_receiver_is_part_of_the_key() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    assert_eq!(
        Tenant { id: 1 }.greeting(&cache, &calls).await,
        "hello tenant 1"
    );
    assert_eq!(
        Tenant { id: 2 }.greeting(&cache, &calls).await,
        "hello tenant 2"
    );
    assert_eq!(
        Tenant { id: 1 }.greeting(&cache, &calls).await,
        "hello tenant 1"
    );
    assert_eq!(count(&calls), 2);
}

#[tokio::test]
async fn with_redis_stopped_the_call_still_returns_its_result() {
    let mut server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    assert_eq!(profile(&cache, &calls, 1, "ann").await.name, "ann");

    server.stop();

    // Stored before the stop, and a new key: both run and return.
    assert_eq!(profile(&cache, &calls, 1, "ann").await.name, "ann");
    assert_eq!(profile(&cache, &calls, 2, "bob").await.name, "bob");
    assert_eq!(count(&calls), 3);
}

#[tokio::test]
async fn with_redis_never_started_the_call_still_returns_its_result() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = Config::redis(format!("redis://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);

    assert_eq!(profile(&cache, &calls, 1, "ann").await.id, 1);
    assert_eq!(profile(&cache, &calls, 1, "ann").await.id, 1);
    assert_eq!(count(&calls), 2);
    assert!(cache.ping().await.is_err());
}

#[tokio::test]
async fn undecodable_values_are_misses_and_get_overwritten() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    profile(&cache, &calls, 5, "eve").await;
    let key = server.keys().remove(0);
    let good = server.cli(&["GET", &key]);

    for garbage in ["not json", "", r#"{"id":"five"}"#, "[1,2,3]", "null"] {
        server.cli(&["SET", &key, garbage]);
        let before = count(&calls);
        assert_eq!(
            profile(&cache, &calls, 5, "eve").await.name,
            "eve",
            "after {garbage:?}"
        );
        assert_eq!(count(&calls), before + 1, "{garbage:?} must be a miss");
        assert_eq!(
            server.cli(&["GET", &key]),
            good,
            "{garbage:?} must be overwritten"
        );
    }
}

#[tokio::test]
async fn password_url_with_database_number_works() {
    let server = RedisServer::start_with_password("s3cret-pw");
    let cache = Config::redis(format!("redis://:s3cret-pw@127.0.0.1:{}/2", server.port()))
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);

    profile(&cache, &calls, 1, "ann").await;
    profile(&cache, &calls, 1, "ann").await;

    assert_eq!(count(&calls), 1);
    assert_eq!(server.cli(&["-n", "2", "DBSIZE"]), "1");
    assert_eq!(server.cli(&["-n", "0", "DBSIZE"]), "0");
    assert!(!format!("{cache:?}").contains("s3cret-pw"), "{cache:?}");
}

#[tokio::test]
async fn global_prefix_namespaces_every_key() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .prefix("billing")
        .build()
        .unwrap();
    profile(&cache, &AtomicUsize::new(0), 1, "ann").await;

    let keys = server.keys();
    assert!(
        keys[0].starts_with("billing:suite::redis_behaviour::profile:"),
        "{keys:?}"
    );
}

/// A reply slower than twice redis-rs's default response timeout (500 ms) but
/// within the configured operation timeout is waited for: `op_timeout` is
/// the one bound on a command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reply_within_the_operation_timeout_is_a_hit() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .op_timeout(std::time::Duration::from_secs(5))
        .build()
        .expect("valid URL");
    let calls = AtomicUsize::new(0);
    profile(&cache, &calls, 1, "ann").await;

    let sleeping = std::thread::scope(|scope| {
        // The server stops answering for 1.3 s (SIGSTOP, then SIGCONT).
        server.pause();
        let sleeper = scope.spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(1300));
            server.resume();
        });
        let started = std::time::Instant::now();
        let value = tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(profile(&cache, &calls, 1, "ann"))
        });
        sleeper.join().unwrap();
        (value, started.elapsed())
    });

    let (value, took) = sleeping;
    assert_eq!(value.name, "ann");
    assert!(
        took >= std::time::Duration::from_millis(1000),
        "the GET waited for the paused server ({took:?})"
    );
    assert_eq!(count(&calls), 1, "a slow hit is still a hit");
}

#[cache_result(expire = "300ms", store = cache, skip(cache, calls))]
async fn brief(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    id
}

/// A TTL under a second is written in milliseconds (`PSETEX`), and Redis
/// expires the entry on time.
#[tokio::test]
async fn a_ttl_with_units_under_a_second_is_kept_to_the_millisecond() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let calls = AtomicUsize::new(0);
    assert_eq!(brief(&cache, &calls, 7).await, 7);
    assert_eq!(brief(&cache, &calls, 7).await, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a hit");

    let key = cache_runtime::entry!(brief(&cache, &calls, 7))
        .key()
        .unwrap()
        .to_owned();
    let pttl: i64 = server.cli(&["PTTL", &key]).parse().unwrap();
    assert!((1..=300).contains(&pttl), "PTTL {pttl}");

    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(brief(&cache, &calls, 7).await, 7);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "expired: run again");
}
