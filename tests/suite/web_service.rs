//! examples/web_service.rs started on a free port, with its own SQLite
//! database and redis-server, driven over HTTP.

use cache_test_support as support;
#[path = "../../examples/web_service.rs"]
#[allow(dead_code)] // the example's `main` is not used here
mod example;

use std::net::SocketAddr;
use std::path::PathBuf;

use cache_runtime::{function, Config};
use example::{TokenReply, TransferDone, UserView};
use serde_json::json;
use support::http::{request, Response};
use support::RedisServer;

/// A running service: its address, app, database file and Redis.
struct Service {
    addr: SocketAddr,
    app: example::Shared,
    redis: RedisServer,
    db: PathBuf,
}

impl Drop for Service {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
    }
}

async fn start() -> Service {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let db = std::env::temp_dir().join(format!(
        "cache-web-test-{}-{}.db",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    tokio::task::block_in_place(|| example::create_database(&db, 20, 2_000)).unwrap();
    let redis = RedisServer::start();
    let cache = Config::redis(redis.url()).connect().await.unwrap();
    let app = example::app(&db, cache);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(example::serve(app.clone(), listener));
    Service {
        addr,
        app,
        redis,
        db,
    }
}

impl Service {
    async fn get(&self, path: &str, token: Option<&str>) -> Response {
        request(self.addr, "GET", path, token, None).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: serde_json::Value) -> Response {
        request(self.addr, "POST", path, token, Some(&body)).await
    }

    async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/session",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    async fn token(&self, email: &str, password: &str) -> String {
        let reply = self.login(email, password).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json::<TokenReply>().token
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_read_through_the_cache() {
    let service = start().await;
    let first = service.get("/users/1", None).await;
    assert_eq!(first.status, 200, "{first:?}");
    let user: UserView = first.json();
    assert_eq!((user.id, user.name.as_str(), user.orders), (1, "Ann", 100));

    let stats = || function!(example::user_view).stats();
    let (hits, misses) = (stats().hits, stats().misses);
    let again: UserView = service.get("/users/1", None).await.json();
    assert_eq!(again, user);
    assert_eq!(stats().hits, hits + 1, "the second read is a hit");
    assert_eq!(stats().misses, misses);
    let keys = service.redis.keys();
    assert!(keys.iter().any(|key| key.contains("user_view")), "{keys:?}");

    let uncached: UserView = service.get("/users/1/uncached", None).await.json();
    assert_eq!(uncached, user);
    assert_eq!(service.get("/users/999", None).await.status, 404);
    assert_eq!(service.get("/users/not-a-number", None).await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_made_from_a_password_and_opens_the_profile() {
    let service = start().await;
    assert_eq!(service.login("ann@example.com", "wrong").await.status, 401);
    assert_eq!(service.login("nobody@example.com", "x").await.status, 401);
    assert_eq!(
        service.login("user7@example.com", "").await.status,
        401,
        "generated users cannot log in"
    );

    let token = service.token("ann@example.com", "ann-password").await;
    let profile = service.get("/profile", Some(&token)).await;
    assert_eq!(profile.status, 200, "{profile:?}");
    assert_eq!(profile.json::<UserView>().email, "ann@example.com");

    for bad in ["", "garbage", &"A".repeat(43)] {
        assert_eq!(
            service.get("/profile", Some(bad)).await.status,
            401,
            "{bad}"
        );
    }
    assert_eq!(service.get("/profile", None).await.status, 401);

    let logout = request(service.addr, "DELETE", "/session", Some(&token), None).await;
    assert_eq!(logout.status, 204);
    assert_eq!(service.get("/profile", Some(&token)).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_under_the_account_locks_lose_no_money() {
    let service = start().await;
    let ann = service.token("ann@example.com", "ann-password").await;
    let bob = service.token("bob@example.com", "bob-password").await;

    // 20 transfers each way at once, 1.00 each, plus 10 of 0.50 to Cid.
    let mut transfers = Vec::new();
    for i in 0..50 {
        let (token, body) = match i % 5 {
            0 | 1 => (ann.clone(), json!({ "from": 1, "to": 2, "amount": 100 })),
            2 | 3 => (bob.clone(), json!({ "from": 2, "to": 1, "amount": 100 })),
            _ => (ann.clone(), json!({ "from": 1, "to": 3, "amount": 50 })),
        };
        let addr = service.addr;
        transfers.push(tokio::spawn(async move {
            request(addr, "POST", "/transfer", Some(&token), Some(&body)).await
        }));
    }
    for transfer in transfers {
        let reply = transfer.await.unwrap();
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json::<TransferDone>();
    }
    let balance = |account| service.app_balance(account);
    assert_eq!(balance(1).await, 100_000 - 10 * 50);
    assert_eq!(balance(2).await, 100_000);
    assert_eq!(balance(3).await, 100_000 + 10 * 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_checked() {
    let service = start().await;
    let ann = service.token("ann@example.com", "ann-password").await;
    let transfer = |token: Option<String>, body: serde_json::Value| {
        let addr = service.addr;
        async move { request(addr, "POST", "/transfer", token.as_deref(), Some(&body)).await }
    };
    let body = json!({ "from": 1, "to": 2, "amount": 100 });
    assert_eq!(transfer(None, body.clone()).await.status, 401);
    let bobs = json!({ "from": 2, "to": 1, "amount": 100 });
    assert_eq!(transfer(Some(ann.clone()), bobs).await.status, 403);
    let too_much = json!({ "from": 1, "to": 2, "amount": 100_001 });
    assert_eq!(transfer(Some(ann.clone()), too_much).await.status, 409);
    let to_self = json!({ "from": 1, "to": 1, "amount": 1 });
    assert_eq!(transfer(Some(ann.clone()), to_self).await.status, 400);
    assert_eq!(service.app_balance(1).await, 100_000);
}

impl Service {
    async fn app_balance(&self, account: u64) -> i64 {
        self.app.db_balance(account).await
    }
}
