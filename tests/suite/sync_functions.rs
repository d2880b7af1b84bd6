//! `#[cache_result]` on plain (non-async) functions, against a real
//! redis-server: the same keys and values as async functions, through
//! blocking connections. These tests run outside any async runtime.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cache_result, entry, function, Cache, Config};
use support::RedisServer;

struct Prices {
    cache: Cache,
    calls: AtomicUsize,
}

impl Prices {
    fn new(url: String) -> Self {
        Prices {
            cache: Config::redis(url).build().unwrap(),
            calls: AtomicUsize::new(0),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    fn price(&self, sku: &str) -> Result<u64, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match sku {
            "" => Err("no sku".into()),
            sku => Ok(sku.len() as u64 * 100),
        }
    }

    /// A sync and an async function sharing entries through one template.
    #[cache_result(expire = 60, store = &self.cache, key = "price:{sku}")]
    fn shared_sync(&self, sku: &str) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sku.len() as u64
    }

    #[cache_result(expire = 60, store = &self.cache, key = "price:{sku}")]
    async fn shared_async(&self, sku: &str) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        sku.len() as u64
    }
}

#[test]
fn sync_function_runs_once_then_hits() {
    let server = RedisServer::start();
    let prices = Prices::new(server.url());

    assert_eq!(prices.price("abc"), Ok(300));
    assert_eq!(prices.price("abc"), Ok(300));
    assert_eq!(prices.calls(), 1);

    let key = &server.keys()[0];
    assert!(
        key.starts_with("cache:suite::sync_functions::Prices::price:"),
        "{key}"
    );
    assert_eq!(server.cli(&["GET", key]), "300");
    let ttl: u64 = server.cli(&["TTL", key]).parse().unwrap();
    assert!((59..=60).contains(&ttl), "{ttl}");
}

#[test]
fn sync_function_does_not_store_err() {
    let server = RedisServer::start();
    let prices = Prices::new(server.url());
    assert!(prices.price("").is_err());
    assert!(prices.price("").is_err());
    assert_eq!(prices.calls(), 2);
}

#[test]
fn sync_evict_put_and_clear() {
    let server = RedisServer::start();
    let prices = Prices::new(server.url());
    assert_eq!(prices.price("abc"), Ok(300));

    assert!(entry!(prices.price("abc")).evict_blocking().unwrap());
    assert_eq!(prices.price("abc"), Ok(300));
    assert_eq!(prices.calls(), 2);

    entry!(prices.price("xyz")).put_blocking(&Ok(1)).unwrap();
    assert_eq!(prices.price("xyz"), Ok(1));
    assert_eq!(
        entry!(prices.price("xyz")).get_blocking().unwrap(),
        Some(Ok(1))
    );
    assert_eq!(prices.calls(), 2);

    assert_eq!(function!(prices.price).clear_blocking().unwrap(), 2);
    assert!(server.keys().is_empty());
}

#[test]
fn sync_and_async_functions_share_entries() {
    let server = RedisServer::start();
    let prices = Prices::new(server.url());

    assert_eq!(prices.shared_sync("abcd"), 4);
    let runtime = support::current_thread_runtime();
    assert_eq!(runtime.block_on(prices.shared_async("abcd")), 4);

    assert_eq!(
        prices.calls(),
        1,
        "the async function read the sync one's entry"
    );
    assert_eq!(server.keys(), vec!["cache:price:abcd"]);
}

#[test]
fn sync_function_with_redis_down_still_returns_its_result() {
    let mut server = RedisServer::start();
    let prices = Prices::new(server.url());
    assert_eq!(prices.price("ab"), Ok(200));
    server.stop();

    assert_eq!(prices.price("ab"), Ok(200));
    assert_eq!(prices.price("abc"), Ok(300));
    assert_eq!(prices.calls(), 3);
}

#[test]
fn sync_function_on_the_embedded_store() {
    let prices = Prices {
        cache: Cache::embedded(),
        calls: AtomicUsize::new(0),
    };
    assert_eq!(prices.price("abc"), Ok(300));
    assert_eq!(prices.price("abc"), Ok(300));
    assert_eq!(prices.calls(), 1);
}
