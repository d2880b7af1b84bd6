//! The user repository example against a real redis-server: after every
//! update or delete, the next read returns the database's current state.

use cache_test_support as support;

#[allow(dead_code)] // the example's `main` is not used here
#[path = "../../examples/user_repository.rs"]
mod example;

use cache_runtime::Config;
use example::{User, UserRepository};
use support::RedisServer;

fn repository(server: &RedisServer) -> UserRepository {
    let cache = Config::redis(server.url()).build().unwrap();
    let repo = UserRepository::open(":memory:", cache).unwrap();
    for (id, name) in [(1, "ann"), (2, "bob")] {
        repo.insert(&User {
            id,
            name: name.into(),
            email: format!("{name}@example.com"),
        })
        .unwrap();
    }
    repo
}

fn renamed(user: &User, name: &str) -> User {
    User {
        name: name.into(),
        ..user.clone()
    }
}

#[tokio::test]
async fn reads_are_cached_and_missing_rows_are_not() {
    let server = RedisServer::start();
    let repo = repository(&server);

    let ann = repo.find_by_id(1).await.unwrap().unwrap();
    assert_eq!(repo.find_by_id(1).await.unwrap(), Some(ann));
    assert_eq!(repo.queries(), 1);

    assert_eq!(repo.find_by_id(9).await.unwrap(), None);
    assert_eq!(repo.find_by_id(9).await.unwrap(), None);
    assert_eq!(
        repo.queries(),
        3,
        "a missing row is asked of the database every time"
    );
    assert_eq!(server.keys().len(), 1);
}

#[tokio::test]
async fn after_every_update_the_next_read_returns_the_database_state() {
    let server = RedisServer::start();
    let repo = repository(&server);
    let ann = repo.find_by_id(1).await.unwrap().unwrap();

    for name in ["ann lee", "ann park", "ann"] {
        let updated = renamed(&ann, name);
        repo.update_user(&updated).await.unwrap();
        assert_eq!(
            repo.find_by_id(1).await.unwrap(),
            Some(updated.clone()),
            "never stale"
        );
        assert_eq!(
            repo.find_by_id(1).await.unwrap(),
            Some(updated),
            "and cached again"
        );
    }
    assert_eq!(repo.queries(), 4, "one read per update, the rest hits");
}

#[tokio::test]
async fn write_through_puts_exactly_what_the_next_read_returns() {
    let server = RedisServer::start();
    let repo = repository(&server);
    let bob = repo.find_by_id(2).await.unwrap().unwrap();
    let queries = repo.queries();

    let updated = renamed(&bob, "robert");
    repo.update_user_write_through(&updated).await.unwrap();

    assert_eq!(repo.find_by_id(2).await.unwrap(), Some(updated.clone()));
    assert_eq!(repo.queries(), queries, "served from the cache");
    // What was put is what the database holds: evict and read it back.
    cache_runtime::entry!(repo.find_by_id(2))
        .evict()
        .await
        .unwrap();
    assert_eq!(repo.find_by_id(2).await.unwrap(), Some(updated));
}

#[tokio::test]
async fn after_a_delete_the_next_read_finds_nothing() {
    let server = RedisServer::start();
    let repo = repository(&server);
    assert!(repo.find_by_id(1).await.unwrap().is_some());

    assert!(repo.delete_user(1).await.unwrap());

    assert_eq!(repo.find_by_id(1).await.unwrap(), None);
    assert!(server.keys().is_empty());
}

#[tokio::test]
async fn clearing_one_function_leaves_the_others_entries() {
    let server = RedisServer::start();
    let repo = repository(&server);
    repo.find_by_id(1).await.unwrap();
    repo.find_by_id(2).await.unwrap();
    assert_eq!(repo.count().await.unwrap(), 2);

    assert_eq!(repo.forget_all_users().await.unwrap(), 2);

    let keys = server.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains("UserRepository::count"), "{keys:?}");
    let queries = repo.queries();
    assert_eq!(repo.count().await.unwrap(), 2);
    assert_eq!(repo.queries(), queries, "count is still cached");
}

#[tokio::test]
async fn a_failed_eviction_is_reported_to_the_writer() {
    let mut server = RedisServer::start();
    let repo = repository(&server);
    let ann = repo.find_by_id(1).await.unwrap().unwrap();
    server.stop();

    let result = repo.update_user(&renamed(&ann, "changed")).await;

    assert!(
        matches!(result, Err(example::RepoError::Cache(_))),
        "{result:?}"
    );
}
