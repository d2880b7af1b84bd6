//! Objects as Redis hashes and JSON documents, against a real redis-server:
//! what the hash looks like to other tools, round trips of nested and
//! optional fields, TTLs, and missing and extra fields.

use cache_test_support as support;

use std::collections::BTreeMap;
use std::time::Duration;

use cache_runtime::{Cache, Config, Error};
use serde::{Deserialize, Serialize};
use support::RedisServer;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Address {
    city: String,
    zip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
    avatar: Option<String>,
    address: Address,
    tags: Vec<String>,
    scores: BTreeMap<String, f64>,
}

fn cache_for(server: &RedisServer) -> Cache {
    Config::redis(server.url()).build().expect("valid URL")
}

fn ann() -> User {
    User {
        id: 1,
        name: "Ann".into(),
        email: "ann@example.com".into(),
        avatar: None,
        address: Address {
            city: "Oslo".into(),
            zip: None,
        },
        tags: vec!["admin".into()],
        scores: BTreeMap::from([("math".into(), 9.5)]),
    }
}

#[tokio::test]
async fn a_struct_is_a_hash_with_one_plain_field_per_struct_field() {
    let server = RedisServer::start();
    let users = cache_for(&server).hashes::<User>("user");
    users.save(1, &ann()).await.unwrap();

    assert_eq!(server.cli(&["TYPE", "user:1"]), "hash");
    assert_eq!(server.cli(&["HGET", "user:1", "name"]), "Ann");
    assert_eq!(server.cli(&["HGET", "user:1", "id"]), "1");
    assert_eq!(
        server.cli(&["HGET", "user:1", "address"]),
        r#"{"city":"Oslo","zip":null}"#
    );
    assert_eq!(
        server.cli(&["HEXISTS", "user:1", "avatar"]),
        "0",
        "None is no field"
    );
    assert_eq!(server.cli(&["TTL", "user:1"]), "-1", "no TTL unless asked");

    assert_eq!(users.load(1).await.unwrap(), Some(ann()));
    assert_eq!(users.load(2).await.unwrap(), None);
}

#[tokio::test]
async fn nested_and_optional_fields_round_trip() {
    let server = RedisServer::start();
    let users = cache_for(&server).hashes::<User>("user");
    let full = User {
        avatar: Some("ann.png".into()),
        address: Address {
            city: "Bergen".into(),
            zip: Some("5003".into()),
        },
        tags: vec![],
        ..ann()
    };
    users.save(1, &full).await.unwrap();
    assert_eq!(users.load(1).await.unwrap(), Some(full));
    // Saving again replaces the whole hash: the avatar field goes away.
    users.save(1, &ann()).await.unwrap();
    assert_eq!(server.cli(&["HEXISTS", "user:1", "avatar"]), "0");
    assert_eq!(users.load(1).await.unwrap(), Some(ann()));
}

#[tokio::test]
async fn other_tools_can_change_plain_fields() {
    let server = RedisServer::start();
    let users = cache_for(&server).hashes::<User>("user");
    users.save(1, &ann()).await.unwrap();
    server.cli(&["HSET", "user:1", "name", "Annie"]);
    server.cli(&["HINCRBY", "user:1", "id", "41"]);
    let loaded = users.load(1).await.unwrap().unwrap();
    assert_eq!((loaded.id, loaded.name.as_str()), (42, "Annie"));
}

#[tokio::test]
async fn missing_fields_are_errors_and_extra_fields_are_ignored() {
    let server = RedisServer::start();
    let users = cache_for(&server).hashes::<User>("user");
    users.save(1, &ann()).await.unwrap();
    server.cli(&["HSET", "user:1", "added_by_another_service", "x"]);
    assert_eq!(users.load(1).await.unwrap(), Some(ann()));

    server.cli(&["HDEL", "user:1", "email"]);
    let error = users.load(1).await.unwrap_err();
    assert!(matches!(error, Error::Mapping { .. }), "{error}");
    assert_eq!(error.to_string(), "`user:1`: missing field `email`");
}

#[tokio::test]
async fn hashes_and_documents_take_a_ttl() {
    let server = RedisServer::start();
    let cache = cache_for(&server);
    let users = cache.hashes::<User>("user").ttl(Duration::from_secs(60));
    users.save(1, &ann()).await.unwrap();
    let ttl: u64 = server.cli(&["TTL", "user:1"]).parse().unwrap();
    assert!((59..=60).contains(&ttl), "{ttl}");

    let docs = cache
        .documents::<User>("user-doc")
        .ttl(Duration::from_millis(300));
    docs.save(1, &ann()).await.unwrap();
    assert_eq!(docs.load(1).await.unwrap(), Some(ann()));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(docs.load(1).await.unwrap(), None);
}

#[tokio::test]
async fn a_document_is_one_json_string() {
    let server = RedisServer::start();
    let docs = cache_for(&server).documents::<User>("user-doc");
    docs.save("ann", &ann()).await.unwrap();
    assert_eq!(server.cli(&["TYPE", "user-doc:ann"]), "string");
    let json: serde_json::Value =
        serde_json::from_str(&server.cli(&["GET", "user-doc:ann"])).unwrap();
    assert_eq!(json["address"]["city"], "Oslo");
    assert_eq!(docs.load("ann").await.unwrap(), Some(ann()));

    server.cli(&["SET", "user-doc:ann", "{not json"]);
    assert!(matches!(
        docs.load("ann").await.unwrap_err(),
        Error::Mapping { .. }
    ));
    assert!(docs.delete("ann").await.unwrap());
}
