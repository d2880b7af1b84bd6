//! Sessions against a real redis-server: tokens, typed data, sliding
//! expiry, and a clean "no session" for anything that is not one.

use cache_test_support as support;

use std::time::Duration;

use cache_runtime::{Cache, Config};
use serde::{Deserialize, Serialize};
use support::RedisServer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
}

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

fn ann() -> User {
    User {
        id: 1,
        name: "ann".into(),
    }
}

#[tokio::test]
async fn a_session_is_created_read_and_destroyed() {
    let server = RedisServer::start();
    let sessions = cache_for(&server).sessions();
    let token = sessions.create(&ann()).await.unwrap();
    assert_eq!(token.as_str().len(), 43);

    let keys = server.keys();
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("session:"), "{keys:?}");
    assert!(
        !keys[0].contains(token.as_str()),
        "the key holds a hash, not the token"
    );
    assert_eq!(server.cli(&["GET", &keys[0]]), r#"{"id":1,"name":"ann"}"#);

    assert_eq!(
        sessions.get::<User>(token.as_str()).await.unwrap(),
        Some(ann())
    );
    assert!(sessions.destroy(token.as_str()).await.unwrap());
    assert_eq!(sessions.get::<User>(token.as_str()).await.unwrap(), None);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn anything_that_is_not_a_live_session_is_no_session() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let sessions = cache.sessions();
    let unknown = "A".repeat(43);
    for token in [
        "",
        "not-a-token",
        &"x".repeat(500),
        "../../etc/passwd",
        &unknown,
    ] {
        assert_eq!(sessions.get::<User>(token).await.unwrap(), None, "{token}");
        assert!(!sessions.touch(token).await.unwrap());
        assert!(!sessions.destroy(token).await.unwrap());
    }
    // Data of another shape (an older version of the type): no session.
    let token = sessions.create(&"just a string").await.unwrap();
    assert_eq!(sessions.get::<User>(token.as_str()).await.unwrap(), None);
}

#[tokio::test]
async fn a_session_expires_unless_used_and_each_read_slides_it() {
    let server = RedisServer::start();
    let sessions = cache_for(&server)
        .sessions()
        .ttl(Duration::from_millis(600));
    let token = sessions.create(&ann()).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sessions
            .get::<User>(token.as_str())
            .await
            .unwrap()
            .is_some());
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sessions.get::<User>(token.as_str()).await.unwrap(), None);
}

#[tokio::test]
async fn without_sliding_a_session_ends_on_time_unless_touched() {
    let server = RedisServer::start();
    let sessions = cache_for(&server)
        .sessions()
        .sliding(false)
        .ttl(Duration::from_millis(500));
    let token = sessions.create(&ann()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sessions
        .get::<User>(token.as_str())
        .await
        .unwrap()
        .is_some());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        sessions.get::<User>(token.as_str()).await.unwrap(),
        None,
        "reads do not slide"
    );

    let touched = sessions.create(&ann()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sessions.touch(touched.as_str()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sessions
        .get::<User>(touched.as_str())
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn update_replaces_the_data_of_a_live_session_only() {
    let server = RedisServer::start();
    let sessions = cache_for(&server).sessions().prefix("shop:session");
    let token = sessions.create(&ann()).await.unwrap();
    let renamed = User {
        name: "Ann B.".into(),
        ..ann()
    };
    assert!(sessions.update(token.as_str(), &renamed).await.unwrap());
    assert_eq!(
        sessions.get::<User>(token.as_str()).await.unwrap(),
        Some(renamed)
    );
    assert!(server.keys()[0].starts_with("shop:session:"));
    assert!(!sessions.update(&"B".repeat(43), &ann()).await.unwrap());
    assert_eq!(server.keys().len(), 1, "no session made by an update");
}

#[tokio::test]
async fn redis_down_is_an_error_not_a_missing_session() {
    let mut server = RedisServer::start();
    let sessions = cache_for(&server).sessions();
    let token = sessions.create(&ann()).await.unwrap();
    server.stop();
    assert!(sessions.get::<User>(token.as_str()).await.is_err());
}
