//! Objects found by their fields (`Hashes::indexed`), against a real
//! redis-server: exact and range finds, index entries that follow every
//! save and delete, expire with their objects, and stay consistent under
//! concurrent writes from two clients; the embedded store finds the same.

use cache_test_support as support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use cache_runtime::mapping::Hashes;
use cache_runtime::{Cache, Config, Error};
use serde::{Deserialize, Serialize};
use support::RedisServer;

/// The model the README shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct UserReadCache {
    id: u64,
    name: String,
    email: String,
    avatar: Option<String>,
}

fn user(id: u64, name: &str) -> UserReadCache {
    UserReadCache {
        id,
        name: name.into(),
        email: format!("{}{id}@example.com", name.to_lowercase()),
        avatar: None,
    }
}

fn users(cache: &Cache) -> Hashes<UserReadCache> {
    cache
        .hashes::<UserReadCache>("user")
        .indexed(["id", "name", "email"])
        .expect("declared fields")
}

fn ids(found: &[UserReadCache]) -> Vec<u64> {
    found.iter().map(|user| user.id).collect()
}

#[tokio::test]
async fn objects_are_found_by_exact_fields_and_number_ranges() {
    let server = RedisServer::start();
    let users = users(&Config::redis(server.url()).build().unwrap());
    for (id, name) in [(1, "Ann"), (2, "Bob"), (3, "Ann"), (40, "Cy")] {
        users.save(id, &user(id, name)).await.unwrap();
    }

    let mut anns = ids(&users.find("name", "Ann").await.unwrap());
    anns.sort();
    assert_eq!(anns, [1, 3]);
    let bob = users.find("email", "bob2@example.com").await.unwrap();
    assert_eq!(bob, [user(2, "Bob")]);
    assert!(users.find("name", "ann").await.unwrap().is_empty(), "exact");
    assert_eq!(ids(&users.find("id", 40).await.unwrap()), [40]);

    assert_eq!(
        ids(&users.find_range("id", 2.0..=40.0).await.unwrap()),
        [2, 3, 40]
    );
    assert_eq!(ids(&users.find_range("id", ..3.0).await.unwrap()), [1, 2]);
    assert_eq!(ids(&users.find_range("id", 4.0..).await.unwrap()), [40]);
    // Text fields are matched exactly, never by range.
    assert!(users.find_range("name", ..).await.unwrap().is_empty());
    // The object is the hash it always was.
    assert_eq!(server.cli(&["HGET", "user:2", "name"]), "Bob");
}

#[tokio::test]
async fn saves_and_deletes_move_index_entries_and_leave_none_behind() {
    let server = RedisServer::start();
    let users = users(&Config::redis(server.url()).build().unwrap());
    users.save(1, &user(1, "Ann")).await.unwrap();
    users.save(1, &user(1, "Bea")).await.unwrap();

    assert!(users.find("name", "Ann").await.unwrap().is_empty());
    assert_eq!(ids(&users.find("name", "Bea").await.unwrap()), [1]);
    assert!(users
        .find("email", "ann1@example.com")
        .await
        .unwrap()
        .is_empty());

    assert!(users.delete(1).await.unwrap());
    assert!(!users.delete(1).await.unwrap());
    assert!(users.find("name", "Bea").await.unwrap().is_empty());
    assert!(users.find_range("id", ..).await.unwrap().is_empty());
    assert_eq!(
        server.keys(),
        Vec::<String>::new(),
        "no index key outlives its objects"
    );
}

#[tokio::test]
async fn index_entries_expire_with_their_objects() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let brief = users(&cache).ttl(Duration::from_millis(300));
    let lasting = users(&cache).ttl(Duration::from_secs(60));
    brief.save(1, &user(1, "Ann")).await.unwrap();
    lasting.save(2, &user(2, "Ann")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;

    // Found no more, though a number index keeps the id until a save
    // prunes it.
    assert_eq!(ids(&lasting.find("name", "Ann").await.unwrap()), [2]);
    assert_eq!(ids(&lasting.find_range("id", ..).await.unwrap()), [2]);
    lasting.save(3, &user(3, "Cy")).await.unwrap();
    let held = server.cli(&["ZRANGE", "user#idx:id", "0", "-1"]);
    assert_eq!(held.lines().collect::<Vec<_>>(), ["2", "3"], "pruned");

    // Every index key lives as long as its longest-lived object.
    let ttl: i64 = server.cli(&["PTTL", "user#idx:name:Ann"]).parse().unwrap();
    assert!(ttl > 50_000, "{ttl}");
    let brief_only = users(&cache).ttl(Duration::from_millis(200));
    brief_only.save(9, &user(9, "Dee")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !server.keys().iter().any(|key| key.contains("Dee")),
        "{:?}",
        server.keys()
    );
}

/// Two clients save, move and delete the same objects at once: afterwards
/// each index holds exactly the objects whose field reads its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_leave_the_indexes_consistent() {
    let server = RedisServer::start();
    let (first, second) = (
        Config::redis(server.url()).build().unwrap(),
        Config::redis(server.url()).build().unwrap(),
    );
    let names = ["Ann", "Bob", "Cy"];
    let writers = [first.clone(), second.clone(), first, second].map(|cache| {
        tokio::spawn(async move {
            let users = users(&cache);
            for round in 0..60u64 {
                let id = round % 7;
                if round % 11 == 5 {
                    users.delete(id).await.unwrap();
                } else {
                    let name = names[(round as usize * 5 + id as usize) % 3];
                    users.save(id, &user(id, name)).await.unwrap();
                }
            }
        })
    });
    for writer in writers {
        writer.await.unwrap();
    }

    let reader = users(&Config::redis(server.url()).build().unwrap());
    let mut truth: BTreeMap<&str, BTreeSet<u64>> = BTreeMap::new();
    for id in 0..7 {
        let name = server.cli(&["HGET", &format!("user:{id}"), "name"]);
        if let Some(name) = names.iter().find(|known| **known == name) {
            truth.entry(name).or_default().insert(id);
        }
    }
    for name in names {
        let found: BTreeSet<u64> = ids(&reader.find("name", name).await.unwrap())
            .into_iter()
            .collect();
        assert_eq!(
            found,
            truth.get(name).cloned().unwrap_or_default(),
            "{name}"
        );
    }
    let all: BTreeSet<u64> = truth.values().flatten().copied().collect();
    let ranged: BTreeSet<u64> = ids(&reader.find_range("id", ..).await.unwrap())
        .into_iter()
        .collect();
    assert_eq!(ranged, all);
}

#[tokio::test]
async fn mistakes_are_errors_that_name_the_field() {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let error = cache
        .hashes::<UserReadCache>("user")
        .indexed(["nmae"])
        .unwrap_err();
    assert!(matches!(error, Error::Mapping { .. }));
    assert!(
        error.to_string().contains("`nmae` is not a field"),
        "{error}"
    );

    let users = users(&cache);
    let error = users.find("avatar", "x").await.unwrap_err();
    assert!(
        error.to_string().contains("`avatar` is not indexed"),
        "{error}"
    );
    let error = users.find_range("id", f64::NAN..).await.unwrap_err();
    assert!(error.to_string().contains("NaN"), "{error}");
}

/// The embedded store keeps no index, and finds the same objects.
#[tokio::test]
async fn the_embedded_store_finds_the_same_objects() {
    let users = users(&Config::embedded().build().unwrap());
    for (id, name) in [(1, "Ann"), (2, "Bob"), (3, "Ann")] {
        users.save(id, &user(id, name)).await.unwrap();
    }
    users.save(3, &user(3, "Cy")).await.unwrap();

    assert_eq!(ids(&users.find("name", "Ann").await.unwrap()), [1]);
    assert_eq!(ids(&users.find_range("id", 2.0..).await.unwrap()), [2, 3]);
    assert!(users.delete(2).await.unwrap());
    assert_eq!(ids(&users.find_range("id", ..).await.unwrap()), [1, 3]);
}
