//! The global cache: functions without a `store` option use whatever
//! `set_global` installed. (One test: the global is per process.)

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cache_result, Config, Error};
use support::RedisServer;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result(expire = 30)]
async fn triple(n: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    n * 3
}

#[tokio::test]
async fn functions_without_a_store_option_use_the_installed_global_cache() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).prefix("svc").build().unwrap();
    cache_runtime::set_global(cache.clone()).unwrap();

    assert_eq!(triple(2).await, 6);
    assert_eq!(triple(2).await, 6);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    let keys = server.keys();
    assert!(keys[0].starts_with("svc:global_store::triple:"), "{keys:?}");

    let again = cache_runtime::set_global(cache);
    assert!(matches!(again, Err(Error::GlobalAlreadySet)), "{again:?}");
}
