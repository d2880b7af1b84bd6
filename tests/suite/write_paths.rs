//! Invalidation, write-through, clearing and key control against a real
//! redis-server per test: `entry!` (evict, put, get), `function!` (clear),
//! `Cache::clear`, `version`, `key` templates, `prefix`, `unless`.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::key::KeyHasher;
use cache_runtime::{cache_result, entry, function, Cache, Config, Error};
use serde::{Deserialize, Serialize};
use support::RedisServer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

/// A repository whose cache is its own, so each test has its own server.
struct Users {
    cache: Cache,
    calls: AtomicUsize,
    /// What the "database" says the name of every user is.
    name: std::sync::Mutex<String>,
}

impl Users {
    fn new(server: &RedisServer) -> Self {
        Users {
            cache: Config::redis(server.url()).build().unwrap(),
            calls: AtomicUsize::new(0),
            name: std::sync::Mutex::new("ann".into()),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn read(&self, id: u64) -> User {
        self.calls.fetch_add(1, Ordering::SeqCst);
        User {
            id,
            name: self.name.lock().unwrap().clone(),
        }
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    async fn find(&self, id: u64) -> Option<User> {
        (id > 0).then(|| self.read(id))
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    async fn count(&self, table: &str) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        table.len() as u64
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache, version = 2)]
    async fn versioned(&self, id: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[cache_result(expire = 60, store = &self.cache, key = "user:{id}")]
    async fn by_template(&self, id: u64) -> User {
        self.read(id)
    }

    #[cache_result(expire = 60, store = &self.cache, key = "user:{user.id}:greeting:{lang}")]
    async fn greeting(&self, user: &User, lang: &str) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("{lang}: hello {}", user.name)
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache, prefix = "users")]
    async fn prefixed(&self, id: u64) -> u64 {
        self.calls.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache, unless = Vec::is_empty)]
    async fn friends(&self, id: u64) -> Vec<u64> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        (0..id).collect()
    }
}

#[tokio::test]
async fn evict_makes_the_next_call_read_the_database() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    assert_eq!(users.find(1).await.unwrap().name, "ann");

    *users.name.lock().unwrap() = "bob".into();
    assert_eq!(users.find(1).await.unwrap().name, "ann", "still cached");
    assert!(
        entry!(users.find(1)).evict().await.unwrap(),
        "the entry existed"
    );

    assert_eq!(users.find(1).await.unwrap().name, "bob");
    assert_eq!(users.calls(), 2);
    assert!(
        !entry!(users.find(99)).evict().await.unwrap(),
        "nothing to evict"
    );
}

#[tokio::test]
async fn put_writes_exactly_what_the_next_read_returns() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    let eve = User {
        id: 5,
        name: "eve".into(),
    };

    entry!(users.find(5)).put(&Some(eve.clone())).await.unwrap();

    assert_eq!(users.find(5).await, Some(eve.clone()));
    assert_eq!(
        users.calls(),
        0,
        "the put value is served, the function never ran"
    );
    assert_eq!(entry!(users.find(5)).get().await.unwrap(), Some(Some(eve)));
    let ttl = entry!(users.find(5)).ttl().await.unwrap().unwrap();
    assert!(
        ttl.as_secs() >= 59,
        "put uses the function's expire: {ttl:?}"
    );
}

#[tokio::test]
async fn putting_a_value_that_is_not_stored_evicts() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    users.find(3).await;
    assert!(entry!(users.find(3)).get().await.unwrap().is_some());

    entry!(users.find(3)).put(&None).await.unwrap();

    assert_eq!(entry!(users.find(3)).get().await.unwrap(), None);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn clearing_a_function_leaves_other_functions_and_other_data_alone() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    for id in 1..=3 {
        users.find(id).await;
    }
    users.count("orders").await;
    users.versioned(1).await;
    server.cli(&["SET", "someone-else:key", "keep me"]);

    let cleared = function!(users.find).clear().await.unwrap();

    assert_eq!(cleared, 3);
    let keys = server.keys();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter().any(|key| key.contains("Users::count:")),
        "{keys:?}"
    );
    assert!(
        keys.iter().any(|key| key.contains("Users::versioned:v2:")),
        "{keys:?}"
    );
    assert!(keys.contains(&"someone-else:key".to_owned()));
    assert_eq!(
        function!(users.find).identity(),
        "suite::write_paths::Users::find"
    );
}

#[tokio::test]
async fn clearing_the_cache_clears_its_prefix_only() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    let fill = "for i = 1, 1500 do redis.call('SET', 'cache:bulk:' .. i, '1') end";
    server.cli(&["EVAL", fill, "0"]);
    users.find(1).await;
    users.prefixed(1).await;
    server.cli(&["SET", "someone-else:key", "keep me"]);

    let cleared = users.cache.clear().await.unwrap();

    assert_eq!(cleared, 1501, "more than one SCAN batch");
    let keys = server.keys();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys[1].starts_with("users:"),
        "another prefix is another namespace: {keys:?}"
    );
}

#[tokio::test]
async fn clearing_a_cache_without_prefix_is_refused() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).prefix("").build().unwrap();
    server.cli(&["SET", "precious", "1"]);

    assert!(matches!(cache.clear().await, Err(Error::EmptyPrefix)));
    assert_eq!(server.keys(), vec!["precious".to_owned()]);
}

#[tokio::test]
async fn version_is_a_readable_key_segment() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    users.versioned(7).await;
    let key = entry!(users.versioned(7)).key().unwrap().to_owned();
    assert!(
        key.starts_with("cache:suite::write_paths::Users::versioned:v2:"),
        "{key}"
    );
    assert_eq!(server.keys(), vec![key]);
}

#[tokio::test]
async fn an_entry_written_for_another_type_is_never_read_as_this_one() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    // What `count` would have written when it returned a `u32`: valid JSON
    // that would decode as a `u64` too, under the key for type `u32`.
    let cache = &users.cache;
    let old_key = cache.key(
        &KeyHasher::new("suite::write_paths::Users::count")
            .arg("u32")
            .arg("orders")
            .finish()
            .unwrap(),
    );
    server.cli(&["SET", &old_key, "999"]);

    assert_eq!(users.count("orders").await, 6, "not the u32-era value");
    assert_eq!(users.calls(), 1);
}

#[tokio::test]
async fn key_templates_render_readable_keys() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    let ann = users.by_template(42).await;
    let user = User {
        id: 7,
        name: "zed".into(),
    };
    users.greeting(&user, "fr").await;

    assert_eq!(
        server.keys(),
        vec!["cache:user:42", "cache:user:7:greeting:fr"]
    );
    assert_eq!(
        server.cli(&["GET", "cache:user:42"]),
        serde_json::to_string(&ann).unwrap()
    );
    assert_eq!(
        entry!(users.by_template(42)).key().unwrap(),
        "cache:user:42"
    );

    assert!(entry!(users.by_template(42)).evict().await.unwrap());
    assert_eq!(function!(users.greeting).clear().await.unwrap(), 1);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn prefix_option_namespaces_one_function() {
    let server = RedisServer::start();
    let users = Users::new(&server);
    users.prefixed(1).await;
    let keys = server.keys();
    assert!(
        keys[0].starts_with("users:suite::write_paths::Users::prefixed:"),
        "{keys:?}"
    );
    assert_eq!(function!(users.prefixed).clear().await.unwrap(), 1);
}

#[tokio::test]
async fn unless_skips_storing_the_results_it_names() {
    let server = RedisServer::start();
    let users = Users::new(&server);

    assert!(users.friends(0).await.is_empty());
    assert!(users.friends(0).await.is_empty());
    assert_eq!(users.calls(), 2, "an empty list is not stored");

    assert_eq!(users.friends(2).await, vec![0, 1]);
    assert_eq!(users.friends(2).await, vec![0, 1]);
    assert_eq!(users.calls(), 3);
}

#[tokio::test]
async fn invalidation_reports_redis_errors_instead_of_hiding_them() {
    let mut server = RedisServer::start();
    let users = Users::new(&server);
    users.find(1).await;
    server.stop();

    assert!(
        entry!(users.find(1)).evict().await.is_err(),
        "a failed eviction is an error"
    );
    assert!(function!(users.find).clear().await.is_err());
}
