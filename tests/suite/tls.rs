//! `rediss://`: caching over TLS against a real redis-server that speaks
//! only TLS, its certificate signed by a CA of the test's own.
//! Built with the `tls` feature (`cargo test --features tls`, as
//! scripts/test.sh does).

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cache_result, entry, Cache, Config};
use support::cluster::RedisCluster;
use support::RedisServer;

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn shout(cache: &Cache, calls: &AtomicUsize, word: &str) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    word.to_uppercase()
}

/// A TLS handshake in a debug build (rustls and ring unoptimized), on a busy
/// machine, can take longer than the default connect timeout; these tests are
/// about TLS working, not about its speed.
const HANDSHAKE: Duration = Duration::from_secs(5);

/// A cache for `url` that trusts the test's CA (`ca_pem`).
fn trusting_test_ca(url: &str, ca_pem: Vec<u8>) -> Cache {
    Config::redis(url)
        .tls_root_cert_pem(ca_pem)
        .connect_timeout(HANDSHAKE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn rediss_url_caches_over_tls_with_a_private_ca() {
    let server = RedisServer::start_tls();
    let cache = trusting_test_ca(&server.url(), server.tls().ca_pem());
    let calls = AtomicUsize::new(0);

    cache.ping().await.expect("TLS handshake and PING");
    assert_eq!(shout(&cache, &calls, "hi").await, "HI");
    assert_eq!(shout(&cache, &calls, "hi").await, "HI");

    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(server.cli(&["GET", &server.keys()[0]]), r#""HI""#);
}

#[tokio::test]
async fn untrusted_certificate_fails_open() {
    let server = RedisServer::start_tls();
    // No CA given: the system trust store does not know the test CA.
    let cache = Config::redis(server.url())
        .connect_timeout(HANDSHAKE)
        .build()
        .unwrap();
    let calls = AtomicUsize::new(0);

    assert_eq!(shout(&cache, &calls, "hi").await, "HI");
    assert_eq!(shout(&cache, &calls, "hi").await, "HI");

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(cache.ping().await.is_err());
    assert!(server.keys().is_empty());
}

#[cache_result(expire = 60, store = cache, skip(cache, calls), local = true)]
async fn whisper(cache: &Cache, calls: &AtomicUsize, word: &str) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    word.to_lowercase()
}

/// A cluster whose nodes speak only TLS, to clients, to each other and to
/// their replicas: the cache reaches every master through a
/// `rediss+cluster://` URL, its in-process tier subscribes to the seeds over
/// TLS, and a clear visits every master.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_caches_announces_and_clears() {
    let cluster = RedisCluster::start_tls();
    let cache = trusting_test_ca(&cluster.cluster_url(), cluster.tls().ca_pem());
    let calls = AtomicUsize::new(0);

    cache.ping().await.expect("TLS handshake and PING");
    for word in ["Alpha", "Bravo", "Charlie", "Delta"] {
        assert_eq!(shout(&cache, &calls, word).await, word.to_uppercase());
        assert_eq!(shout(&cache, &calls, word).await, word.to_uppercase());
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(cluster.keys().len(), 4);

    // The tier holds a copy once its listener has subscribed over TLS; an
    // eviction drops it.
    support::until_local_hit("whisper", HANDSHAKE * 2, || whisper(&cache, &calls, "Echo")).await;
    let runs = calls.load(Ordering::SeqCst);
    entry!(whisper(&cache, &calls, "Echo"))
        .evict()
        .await
        .unwrap();
    assert_eq!(whisper(&cache, &calls, "Echo").await, "echo");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        runs + 1,
        "ran again after the eviction"
    );

    cache.clear().await.unwrap();
    assert!(cluster.keys().is_empty(), "{:?}", cluster.keys());
}
