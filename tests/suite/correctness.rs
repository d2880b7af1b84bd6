//! A cache may make a call faster, never wrong: adversarial inputs against a
//! real redis-server. Each test is one way a cache can return another
//! call's value, delete keys that are not its own, or hang, and shows that
//! this one does not.

use cache_test_support as support;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cache_result, entry, function, Cache, Config, Error};
use serde::{Deserialize, Serialize};
use support::RedisServer;

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

/// A cache with an in-process tier in front of `server`.
fn tiered_cache(server: &RedisServer) -> Cache {
    Config::redis(server.url())
        .local_tier(cache_runtime::LocalTier::default())
        .build()
        .expect("valid URL")
}

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

// --- Generic impls: a key, a site and a tier key per instantiation. ---

pub trait Named {
    const NAME: &'static str;
}

#[derive(Serialize)]
pub struct Alpha;
#[derive(Serialize)]
pub struct Beta;

impl Named for Alpha {
    const NAME: &'static str = "alpha";
}
impl Named for Beta {
    const NAME: &'static str = "beta";
}

pub struct Table<T>(std::marker::PhantomData<T>);

impl<T: Named> Table<T> {
    fn new() -> Self {
        Table(std::marker::PhantomData)
    }

    #[cache_result(expire = 60, store = cache, skip(self, cache, calls))]
    async fn name(&self, cache: &Cache, calls: &AtomicUsize) -> String {
        calls.fetch_add(1, Ordering::SeqCst);
        T::NAME.to_owned()
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls), local = true)]
    fn label(cache: &Cache, calls: &AtomicUsize, id: u64) -> String {
        calls.fetch_add(1, Ordering::SeqCst);
        format!("{}-{id}", T::NAME)
    }
}

#[tokio::test]
async fn each_instantiation_of_a_generic_impl_has_keys_of_its_own() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    let (alpha, beta) = (Table::<Alpha>::new(), Table::<Beta>::new());

    assert_eq!(alpha.name(&cache, &calls).await, "alpha");
    assert_eq!(beta.name(&cache, &calls).await, "beta");
    assert_eq!(alpha.name(&cache, &calls).await, "alpha");
    assert_eq!(beta.name(&cache, &calls).await, "beta");
    assert_eq!(runs(&calls), 2, "one run per instantiation, then hits");
    let keys = server.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys
        .iter()
        .any(|key| key.contains("Table<suite::correctness::Alpha>::name")));
    assert!(keys
        .iter()
        .any(|key| key.contains("Table<suite::correctness::Beta>::name")));

    // `entry!` derives the key the call used: evicting Alpha's runs it again.
    entry!(alpha.name(&cache, &calls)).evict().await.unwrap();
    assert_eq!(alpha.name(&cache, &calls).await, "alpha");
    assert_eq!(beta.name(&cache, &calls).await, "beta");
    assert_eq!(runs(&calls), 3);

    // And `function!` clears one instantiation, not the other.
    assert_eq!(function!(alpha.name).clear_in(&cache).await.unwrap(), 1);
    assert_eq!(server.keys().len(), 1);
}

#[test]
fn each_instantiation_keeps_its_own_in_process_copies() {
    let server = RedisServer::start();
    let cache = tiered_cache(&server);
    let calls = AtomicUsize::new(0);
    for _ in 0..3 {
        assert_eq!(Table::<Alpha>::label(&cache, &calls, 7), "alpha-7");
        assert_eq!(Table::<Beta>::label(&cache, &calls, 7), "beta-7");
    }
    assert_eq!(runs(&calls), 2);
    let stats = cache_runtime::stats();
    let alpha = stats
        .iter()
        .find(|s| s.function == "suite::correctness::Table<suite::correctness::Alpha>::label")
        .expect("Alpha's site is registered under its own name");
    assert_eq!(alpha.executions, 1);
}

// --- Templates: no value forges a separator; a clear takes its own keys. ---

#[cache_result(expire = 60, store = cache, key = "user:{id}")]
async fn user(cache: &Cache, calls: &AtomicUsize, id: &str) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    format!("user {id}")
}

#[cache_result(expire = 60, store = cache, key = "user:{id}:orders")]
async fn orders(cache: &Cache, calls: &AtomicUsize, id: &str) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    format!("orders of {id}")
}

#[cache_result(expire = 60, store = cache, key = "user:{id}", lock = true)]
async fn locked_user(cache: &Cache, calls: &AtomicUsize, id: &str) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    format!("user {id}")
}

#[tokio::test]
async fn a_template_value_cannot_reach_another_templates_key() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    assert_eq!(orders(&cache, &calls, "5").await, "orders of 5");
    assert_eq!(user(&cache, &calls, "5:orders").await, "user 5:orders");
    assert_eq!(user(&cache, &calls, "42").await, "user 42");
    assert_eq!(runs(&calls), 3);
    assert_eq!(
        server.keys(),
        [
            "cache:user:42",
            "cache:user:5%3Aorders",
            "cache:user:5:orders"
        ]
    );
}

#[tokio::test]
async fn a_crafted_value_cannot_reach_a_lease() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    // Another process holds the lease of `user:5` (its function is running).
    server.cli(&["SET", "cache:user:5:lease", "someone-else", "PX", "60000"]);

    let started = Instant::now();
    let value = locked_user(&cache, &calls, "5:lease").await;
    assert_eq!(value, "user 5:lease");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the call waited on another key's lease: {:?}",
        started.elapsed()
    );
    assert!(server.keys().contains(&"cache:user:5%3Alease".to_owned()));
}

#[cache_result(expire = 60, store = cache, key = "{id}")]
async fn bare(cache: &Cache, id: &str) -> String {
    id.to_owned()
}

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn hashed(cache: &Cache, id: u64) -> u64 {
    id
}

#[tokio::test]
async fn a_templates_clear_deletes_its_own_keys_only() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    for id in ["1", "a:b", "*", "{x}", "é?"] {
        bare(&cache, id).await;
        user(&cache, &calls, id).await;
        orders(&cache, &calls, id).await;
    }
    hashed(&cache, 1).await;
    server.cli(&["SET", "session:abc", "someone"]);
    server.cli(&["SET", "cache:user:1:lease", "a lease"]);
    let before = server.keys().len();

    assert_eq!(function!(bare).clear_in(&cache).await.unwrap(), 5);
    assert_eq!(function!(user).clear_in(&cache).await.unwrap(), 5);
    let left = server.keys();
    assert_eq!(left.len(), before - 10, "{left:?}");
    assert!(left.iter().all(|key| key.ends_with(":orders")
        || key.contains("hashed")
        || key == "session:abc"
        || key == "cache:user:1:lease"));
}

#[tokio::test]
async fn a_template_under_an_empty_prefix_refuses_to_clear() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).prefix("").build().unwrap();
    bare(&cache, "1").await;
    server.cli(&["SET", "other-application", "its data"]);

    let error = function!(bare).clear_in(&cache).await.unwrap_err();
    assert!(matches!(error, Error::Unscoped(_)), "{error}");
    assert_eq!(server.keys(), ["1", "other-application"]);
}

// --- Non-finite floats: keys of their own, values never read back wrong. ---

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn scaled(cache: &Cache, calls: &AtomicUsize, x: f64) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    format!("{x}")
}

#[cache_result(expire = 60, store = cache, skip(cache, calls), cache_none = true)]
async fn maybe(cache: &Cache, calls: &AtomicUsize, x: f64) -> Option<f64> {
    calls.fetch_add(1, Ordering::SeqCst);
    Some(x)
}

#[tokio::test]
async fn nan_and_infinities_have_keys_of_their_own() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(scaled(&cache, &calls, x).await, format!("{x}"));
    }
    for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        assert_eq!(scaled(&cache, &calls, x).await, format!("{x}"));
    }
    assert_eq!(runs(&calls), 3);
    assert_eq!(server.keys().len(), 3);
}

#[tokio::test]
async fn a_non_finite_result_is_returned_and_not_stored() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    for _ in 0..2 {
        let value = maybe(&cache, &calls, f64::NAN).await;
        assert!(value.is_some_and(f64::is_nan), "{value:?}");
    }
    assert_eq!(runs(&calls), 2, "a NaN has no JSON: nothing was stored");
    assert!(server.keys().is_empty());
    assert_eq!(maybe(&cache, &calls, 1.5).await, Some(1.5));
    assert_eq!(maybe(&cache, &calls, 1.5).await, Some(1.5));
    assert_eq!(runs(&calls), 3);
}

// --- Re-entrant calls run; they never wait for themselves. ---

#[cache_result(expire = 60, store = cache, skip(cache, calls, outer))]
async fn reentrant(cache: &Cache, calls: &AtomicUsize, outer: bool, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    match outer {
        // The same key as this call's: the inner call must not join it.
        true => Box::pin(reentrant(cache, calls, false, n)).await + 1,
        false => n,
    }
}

#[cache_result(expire = 60, store = cache, skip(cache, calls, outer))]
fn reentrant_sync(cache: &Cache, calls: &AtomicUsize, outer: bool, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    match outer {
        true => reentrant_sync(cache, calls, false, n) + 1,
        false => n,
    }
}

#[cache_result(expire = 60, store = cache, skip(cache, calls, outer), coalesce = false, lock = true)]
async fn reentrant_locked(cache: &Cache, calls: &AtomicUsize, outer: bool, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    match outer {
        true => Box::pin(reentrant_locked(cache, calls, false, n)).await + 1,
        false => n,
    }
}

#[tokio::test]
async fn a_function_that_calls_its_own_key_runs_instead_of_waiting() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    let within = Duration::from_secs(5);

    let value = tokio::time::timeout(within, reentrant(&cache, &calls, true, 7)).await;
    assert_eq!(value.expect("no wait on itself"), 8);
    assert_eq!(runs(&calls), 2);
    assert_eq!(
        reentrant(&cache, &calls, true, 7).await,
        8,
        "the outer result is stored"
    );
    assert_eq!(runs(&calls), 2);

    let started = Instant::now();
    let value = tokio::time::timeout(within, reentrant_locked(&cache, &calls, true, 9)).await;
    assert_eq!(value.expect("no wait on its own lease"), 10);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_sync_function_that_calls_its_own_key_runs_instead_of_waiting() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let calls = AtomicUsize::new(0);
        let value = reentrant_sync(&cache, &calls, true, 3);
        let _ = done.send((value, runs(&calls)));
    });
    let (value, calls) = finished
        .recv_timeout(Duration::from_secs(5))
        .expect("no wait on itself");
    assert_eq!((value, calls), (4, 2));
}

// --- Passwords with reserved characters: they work, and never show. ---

#[tokio::test]
async fn a_password_with_reserved_characters_connects_and_never_shows() {
    let password = "p?ss#w/rd@1%";
    let server = RedisServer::start_with_password(password);
    let url = format!("redis://:{password}@127.0.0.1:{}/0", server.port());
    let cache = Config::redis(&url)
        .build()
        .expect("the URL is read as meant");
    cache
        .ping()
        .await
        .expect("authenticated with the password as written");
    let shown = format!("{cache:?} {:?}", Config::redis(&url));
    assert!(
        !shown.contains("p?ss") && !shown.contains("rd@1"),
        "{shown}"
    );

    // A URL that cannot be used at all says so without the password.
    let error = Config::redis(format!("redis://user:{password}@127.0.0.1:notaport/0"))
        .build()
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("p?ss") && !text.contains("rd@1"), "{text}");
}

// --- Connecting: concurrent first calls share one connect timeout. ---

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn first(cache: &Cache, n: u64) -> u64 {
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_wait_one_connect_timeout_at_most() {
    // Accepts connections (the kernel's backlog) and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connect_timeout = Duration::from_millis(500);
    let cache = Config::redis(format!("redis://127.0.0.1:{port}"))
        .connect_timeout(connect_timeout)
        .build()
        .unwrap();
    let cache = std::sync::Arc::new(cache);
    let tasks: Vec<_> = (0..20)
        .map(|n| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                assert_eq!(first(&cache, n).await, n);
                started.elapsed()
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for task in tasks {
        slowest = slowest.max(task.await.unwrap());
    }
    // Serially, the twentieth would wait twenty timeouts (10 s).
    assert!(
        slowest < connect_timeout * 4,
        "a first call waited {slowest:?}, more than one connect attempt"
    );
    drop(listener);
}

// --- Stored values round-trip, whatever they hold. ---

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    name: String,
    score: f64,
    tags: std::collections::BTreeMap<String, Vec<i64>>,
    nested: Option<Box<Record>>,
}

#[cache_result(expire = 60, store = cache, skip(cache, calls, value))]
async fn stored(cache: &Cache, calls: &AtomicUsize, id: u64, value: &Record) -> Record {
    calls.fetch_add(1, Ordering::SeqCst);
    value.clone()
}

mod properties {
    use proptest::prelude::*;
    use proptest::test_runner::{Config as Cases, TestRunner};

    use super::*;
    use support::current_thread_runtime as runtime;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![":", "*", "{x}", "?", "é", "🦀", "\"", "\\", "\0", ""])
                .prop_map(str::to_owned),
            any::<String>(),
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        let leaf = (
            text(),
            any::<f64>().prop_filter("finite", |x| x.is_finite()),
            prop::collection::btree_map(text(), prop::collection::vec(any::<i64>(), 0..3), 0..3),
        )
            .prop_map(|(name, score, tags)| Record {
                name,
                score,
                tags,
                nested: None,
            });
        leaf.prop_recursive(2, 4, 1, |inner| {
            (inner.clone(), inner).prop_map(|(mut outer, nested)| {
                outer.nested = Some(Box::new(nested));
                outer
            })
        })
    }

    /// Cases against one server that lives as long as the test (a server in
    /// a `static` would outlive the test binary).
    fn runner(cases: u32) -> TestRunner {
        TestRunner::new(Cases {
            cases,
            failure_persistence: None,
            ..Cases::default()
        })
    }

    /// What a hit returns is what the miss returned, through real Redis.
    #[test]
    fn every_stored_value_round_trips() {
        let (server, runtime) = (RedisServer::start(), runtime());
        let cache = cache_for(&server);
        let next_id = std::sync::atomic::AtomicU64::new(0);
        let result = runner(48).run(&record(), |value| {
            let id = next_id.fetch_add(1, Ordering::SeqCst);
            let calls = AtomicUsize::new(0);
            let (miss, hit) = runtime.block_on(async {
                let miss = stored(&cache, &calls, id, &value).await;
                let hit = stored(&cache, &calls, id, &value).await;
                (miss, hit)
            });
            prop_assert_eq!(runs(&calls), 1);
            prop_assert_eq!(&miss, &value);
            prop_assert_eq!(&hit, &value);
            Ok(())
        });
        result.unwrap();
    }

    /// Whatever ids two template functions were called with, clearing
    /// one leaves every key of the other, and every other key.
    #[test]
    fn a_clear_never_reaches_beyond_its_function() {
        let (server, runtime) = (RedisServer::start(), runtime());
        let cache = cache_for(&server);
        let ids = (
            prop::collection::vec(text(), 1..6),
            prop::collection::vec(text(), 1..6),
        );
        let result = runner(24).run(&ids, |(ids, others)| {
            server.cli(&["FLUSHALL"]);
            let calls = AtomicUsize::new(0);
            runtime.block_on(async {
                for id in &ids {
                    user(&cache, &calls, id).await;
                }
                for id in &others {
                    orders(&cache, &calls, id).await;
                    bare(&cache, id).await;
                }
                hashed(&cache, 1).await;
            });
            let before = server.keys();
            let cleared = runtime.block_on(function!(user).clear_in(&cache)).unwrap();
            let after = server.keys();
            let mut distinct = ids.clone();
            distinct.sort();
            distinct.dedup();
            prop_assert_eq!(cleared as usize, distinct.len());
            prop_assert_eq!(after.len(), before.len() - distinct.len());
            prop_assert!(after.iter().all(|key| before.contains(key)));
            Ok(())
        });
        result.unwrap();
    }
}

// --- Locks: fencing tokens; conditional writes are never resent blindly. ---

#[tokio::test]
async fn each_lock_holder_gets_a_larger_fencing_token() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let lock = cache.lock("report").ttl(Duration::from_millis(200));

    let first = lock.acquire().await.unwrap();
    assert_eq!(first.fence(), 1);
    assert_eq!(server.cli(&["GET", "{lock:report}:fence"]), "1");
    // The first holder stalls past its TTL; the next one takes over.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = lock.acquire().await.unwrap();
    assert!(second.fence() > first.fence());
    // The counter never expires: numbers only grow.
    assert_eq!(server.cli(&["PTTL", "{lock:report}:fence"]), "-1");
    second.release().await.unwrap();
    assert_eq!(lock.acquire().await.unwrap().fence(), 3);
    assert!(matches!(first.release().await, Err(Error::LockLost { .. })));
}

/// Forwards connections to `upstream`, a request and its reply at a time.
/// When armed, passes the next request on and drops the connection instead
/// of its reply: a command that ran, whose answer was lost. With a delay,
/// holds each reply that long: a Redis that answers, slowly.
struct Proxy {
    port: u16,
    /// Where new connections go.
    upstream: std::sync::Arc<std::sync::atomic::AtomicU16>,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Proxy {
    async fn start(upstream: u16) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let armed = std::sync::Arc::new(AtomicBool::new(false));
        let delay_ms = std::sync::Arc::new(AtomicU64::new(0));
        let upstream = std::sync::Arc::new(AtomicU16::new(upstream));
        let (arm, delay, target) = (armed.clone(), delay_ms.clone(), upstream.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let (arm, delay) = (arm.clone(), delay.clone());
                let upstream = target.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                        .await
                        .unwrap();
                    let (mut request, mut reply) = (vec![0; 64 * 1024], vec![0; 64 * 1024]);
                    loop {
                        let n = match client.read(&mut request).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if server.write_all(&request[..n]).await.is_err() {
                            return;
                        }
                        let Ok(m) = server.read(&mut reply).await else {
                            return;
                        };
                        let wait = delay.load(Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                        if arm.swap(false, Ordering::SeqCst) {
                            return; // ran, and its reply is lost with the connection
                        }
                        if m == 0 || client.write_all(&reply[..m]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Proxy {
            port,
            upstream,
            armed,
            delay_ms,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// New connections go to `port` from now on (a virtual IP moved).
    fn point_to(&self, port: u16) {
        self.upstream.store(port, Ordering::SeqCst);
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_lock_whose_reply_was_lost_is_still_its_holders() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port()).await;
    let cache = Config::redis(proxy.url())
        .op_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    cache.ping().await.unwrap();
    let lock = cache.lock("job");

    // The acquire ran, its reply was lost: sent again, it finds its own
    // token and answers the same fence (a resent `SET NX` said "taken").
    proxy.arm();
    let guard = lock
        .try_acquire()
        .await
        .unwrap()
        .expect("the lock is this holder's");
    assert_eq!(guard.fence(), 1);
    assert_eq!(server.cli(&["GET", "{lock:job}:fence"]), "1");

    // The release ran, its reply was lost: not resent (a second
    // compare-and-delete finds nothing and says "lost"); an I/O error.
    proxy.arm();
    let error = guard.release().await.unwrap_err();
    assert!(!matches!(error, Error::LockLost { .. }), "{error}");
    assert!(
        server.keys().iter().all(|key| key != "lock:job"),
        "it was released"
    );
}

// --- No duration is too long, on Redis or the embedded store. ---

#[cache_result(expire = 60, store = cache, skip(cache), lock = true)]
async fn leased(cache: &Cache, n: u64) -> u64 {
    n
}

#[tokio::test]
async fn durations_past_any_clock_do_not_panic() {
    let server = RedisServer::start();
    let redis = Config::redis(server.url())
        .lock_times(Duration::MAX, Duration::MAX)
        .build()
        .unwrap();
    let embedded = Config::embedded()
        .lock_times(Duration::MAX, Duration::MAX)
        .build()
        .unwrap();
    for cache in [redis, embedded] {
        let lock = cache.lock("forever").ttl(Duration::MAX).wait(Duration::MAX);
        let guard = lock.acquire().await.unwrap();
        guard.extend(Duration::MAX).await.unwrap();
        guard.release().await.unwrap();

        let sessions = cache.sessions().ttl(Duration::MAX);
        let token = sessions.create(&7u8).await.unwrap();
        assert_eq!(sessions.get::<u8>(token.as_str()).await.unwrap(), Some(7));

        let documents = cache.documents::<u8>("doc").ttl(Duration::MAX);
        documents.save(1, &9).await.unwrap();
        assert_eq!(documents.load(1).await.unwrap(), Some(9));

        assert_eq!(leased(&cache, 5).await, 5);
        assert_eq!(leased(&cache, 5).await, 5);
    }
}

// --- A clear that fails half-way leaves no copy of what it deleted. ---

#[cache_result(expire = 60, store = cache, skip(cache, calls), local = true)]
async fn tiered(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n
}

#[tokio::test]
async fn a_failed_clear_still_drops_this_processs_copies() {
    let server = RedisServer::start();
    let cache = tiered_cache(&server);
    let calls = AtomicUsize::new(0);
    support::until_local_hit("tiered", Duration::from_secs(5), || {
        tiered(&cache, &calls, 1)
    })
    .await;
    let before = runs(&calls);

    // Redis stops answering in the middle of the clear.
    server.pause();
    let cleared = function!(tiered).clear_in(&cache).await;
    server.resume();
    assert!(cleared.is_err(), "{cleared:?}");

    // Whatever the clear did delete, no copy of it answers now.
    server.cli(&["FLUSHALL"]);
    assert_eq!(tiered(&cache, &calls, 1).await, 1);
    assert_eq!(runs(&calls), before + 1, "a copy outlived the clear");
}

// --- Locks and sessions wait for a slow Redis; cached calls do not. ---

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn slow_path(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n
}

#[tokio::test]
async fn sessions_and_locks_work_while_redis_answers_slowly() {
    let server = RedisServer::start();
    let proxy = Proxy::start(server.port()).await;
    let cache = Config::redis(proxy.url()).build().unwrap();
    let calls = AtomicUsize::new(0);
    cache.ping().await.unwrap();
    proxy.delay(Duration::from_millis(200));

    // Cached calls give up on Redis after 50 ms and run their function;
    // after three such timeouts the breaker opens.
    for _ in 0..5 {
        assert_eq!(slow_path(&cache, &calls, 1).await, 1);
    }
    assert_eq!(runs(&calls), 5);

    // Sessions and locks have no function to fall back on: they wait.
    let sessions = cache.sessions();
    let token = sessions
        .create(&"ann")
        .await
        .expect("a slow Redis is still a Redis");
    let who = sessions.get::<String>(token.as_str()).await.unwrap();
    assert_eq!(who.as_deref(), Some("ann"));
    let guard = cache.lock("slow").acquire().await.unwrap();
    guard.release().await.unwrap();
}

// --- Keys that may hold personal data stay out of logs and spans. ---

#[cache_result(expire = 60, store = cache, key = "account:{email}")]
async fn account(cache: &Cache, email: &str) -> String {
    email.len().to_string()
}

#[tokio::test]
async fn logs_and_spans_show_a_templates_text_not_its_values() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    // A value that does not decode: a warning, and the span at debug level.
    server.cli(&["SET", "cache:account:ann@example.com", "not json"]);
    let (logs, _guard) = support::capture_logs();
    assert_eq!(account(&cache, "ann@example.com").await, "15");
    let logs = logs.text();
    assert!(logs.contains("does not decode"), "{logs}");
    assert!(logs.contains("account:{email}"), "{logs}");
    assert!(!logs.contains("ann@example.com"), "{logs}");
}

// --- Sync code after a restart: dead pooled connections are dropped. ---

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
fn sync_square(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    n * n
}

#[test]
fn sync_calls_after_a_restart_reach_redis_at_once() {
    let mut server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);
    // Several threads at once: several connections in the pool.
    std::thread::scope(|scope| {
        for n in 0..6 {
            let (cache, calls) = (&cache, &calls);
            scope.spawn(move || sync_square(cache, calls, n));
        }
    });
    server.restart();

    // The first call meets a dead pooled connection; it goes on a new one.
    assert_eq!(sync_square(&cache, &calls, 9), 81);
    assert_eq!(
        server.keys().len(),
        1,
        "the first call after the restart stored its value"
    );
    assert_eq!(sync_square(&cache, &calls, 9), 81);
    assert_eq!(runs(&calls), 7);
}

// --- A failover: the old primary answers READONLY; the cache moves on. ---

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn after_failover(cache: &Cache, n: u64) -> u64 {
    n
}

#[tokio::test]
async fn writes_follow_a_failover_behind_one_address() {
    let old = RedisServer::start();
    let new = RedisServer::start();
    let replica_of = |server: &RedisServer, primary: &RedisServer| {
        let port = primary.port().to_string();
        server.cli(&["REPLICAOF", "127.0.0.1", &port]);
    };
    for server in [&old, &new] {
        server.cli(&["CONFIG", "SET", "repl-diskless-sync-delay", "0"]);
    }
    replica_of(&new, &old);
    let proxy = Proxy::start(old.port()).await;
    let cache = Config::redis(proxy.url()).build().unwrap();
    assert_eq!(after_failover(&cache, 1).await, 1);
    let sessions = cache.sessions().sliding(true);
    let token = sessions.create(&"ann").await.unwrap();
    // Everything so far has reached the replica.
    let deadline = Instant::now() + Duration::from_secs(10);
    while new.keys() != old.keys() || !new.cli(&["INFO", "replication"]).contains("link_status:up")
    {
        assert!(Instant::now() < deadline, "the replica never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }

    // The failover: the replica is promoted, the old primary follows it,
    // and the address leads to the new one.
    new.cli(&["REPLICAOF", "NO", "ONE"]);
    replica_of(&old, &new);
    proxy.point_to(new.port());
    let before = new.keys().len();

    // The first write meets READONLY on the old connection, which is
    // closed; the write goes again on a new one, to the new primary.
    assert_eq!(after_failover(&cache, 2).await, 2);
    assert_eq!(new.keys().len(), before + 1, "{:?}", new.keys());
    // A sliding session (GETEX, a write) works there too.
    let who = sessions.get::<String>(token.as_str()).await.unwrap();
    assert_eq!(who.as_deref(), Some("ann"));
}

// --- Outside Tokio, or on a runtime without its timer: the function runs. ---

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn anywhere(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n
}

#[test]
fn a_call_without_a_tokio_timer_runs_its_function_instead_of_panicking() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    let timerless = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    for _ in 0..2 {
        assert_eq!(timerless.block_on(anywhere(&cache, &calls, 3)), 3);
    }
    assert_eq!(support::poll_to_end(anywhere(&cache, &calls, 4)), 4);
    assert_eq!(runs(&calls), 3);

    // A runtime with its timer, on the same thread, uses Redis as ever.
    let full = support::current_thread_runtime();
    assert_eq!(full.block_on(anywhere(&cache, &calls, 5)), 5);
    assert_eq!(full.block_on(anywhere(&cache, &calls, 5)), 5);
    assert_eq!(runs(&calls), 4);
    assert_eq!(server.keys().len(), 1, "{:?}", server.keys());
}

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn across_runtimes(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n
}

/// A cache outlives the runtimes that use it (a test's runtime, a
/// `block_on` at start-up): the connection a runtime opened dies with it,
/// and the next runtime's first call opens another instead of failing.
#[test]
fn a_runtime_that_ends_costs_the_next_one_no_failed_call() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let calls = AtomicUsize::new(0);

    for _ in 0..3 {
        let runtime = support::current_thread_runtime();
        assert_eq!(runtime.block_on(across_runtimes(&cache, &calls, 1)), 1);
    }

    let stats = support::stats_of("across_runtimes");
    assert_eq!((stats.hits, stats.errors), (2, 0), "{stats:?}");
    assert_eq!(runs(&calls), 1);
}

/// A runtime that shuts down while a connection is being opened (a
/// paused server: connected, no reply) must not leave the next runtime a
/// connection bound to it: its calls meet a working cache, never the dead
/// runtime's panic.
#[test]
fn a_runtime_shut_down_mid_connect_leaves_the_next_runtime_a_working_cache() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .op_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        // Open while the server is paused, and ready to probe at once.
        .circuit_breaker(1, Duration::ZERO)
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);

    support::current_thread_runtime().block_on(anywhere(&cache, &calls, 1));
    server.pause();
    let ending = support::current_thread_runtime();
    assert_eq!(ending.block_on(anywhere(&cache, &calls, 1)), 1);
    ending.shutdown_timeout(Duration::ZERO);
    server.resume();

    let next = support::current_thread_runtime();
    for _ in 0..3 {
        assert_eq!(next.block_on(anywhere(&cache, &calls, 2)), 2);
    }
    assert_eq!(next.block_on(anywhere(&cache, &calls, 1)), 1);
    assert_eq!(
        runs(&calls),
        3,
        "the next runtime's calls after its first are hits"
    );
}

// --- Large values take a lane of their own. ---

/// Forwards connections to `upstream` both ways at once, counting the
/// bytes each connection receives from the server.
struct Counting {
    port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<std::sync::Arc<std::sync::atomic::AtomicU64>>>>,
}

impl Counting {
    async fn start(upstream: u16) -> Self {
        use std::sync::atomic::AtomicU64;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let counters = received.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counter = std::sync::Arc::new(AtomicU64::new(0));
                counters.lock().unwrap().push(counter.clone());
                let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .unwrap();
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                tokio::spawn(async move {
                    let mut buffer = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = server_read.read(&mut buffer).await {
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                        if client_write.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Counting { port, received }
    }

    /// Bytes each connection received, in the order they were opened.
    fn received(&self) -> Vec<u64> {
        let counters = self.received.lock().unwrap();
        counters
            .iter()
            .map(|counter| counter.load(Ordering::SeqCst))
            .collect()
    }
}

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn large(cache: &Cache, n: u64) -> String {
    "x".repeat(1024 * 1024 + n as usize)
}

#[tokio::test]
async fn a_large_value_never_crosses_the_shared_connection_more_than_once() {
    let server = RedisServer::start();
    let proxy = Counting::start(server.port()).await;
    let cache = Config::redis(format!("redis://127.0.0.1:{}", proxy.port))
        .op_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    cache.ping().await.unwrap();

    // Written by this cache (it knows the size), then read ten times.
    for _ in 0..11 {
        assert_eq!(large(&cache, 1).await.len(), 1024 * 1024 + 1);
    }
    // Written by another program: the first read learns its size.
    let key = entry!(large(&cache, 2)).key().unwrap().to_owned();
    let mut other = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("y".repeat(1024 * 1024 + 2))
        .query_async(&mut other)
        .await
        .unwrap();
    for _ in 0..10 {
        assert_eq!(large(&cache, 2).await.len(), 1024 * 1024 + 2);
    }

    let received = proxy.received();
    let shared = received[0];
    let megabyte = 1024 * 1024;
    assert!(
        shared < 2 * megabyte,
        "the shared connection carried {shared} bytes: {received:?}"
    );
    let bulk: u64 = received[1..].iter().sum();
    assert!(
        bulk >= 19 * megabyte,
        "the bulk lane carried {bulk} bytes: {received:?}"
    );
}
