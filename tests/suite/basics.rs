//! examples/basics.rs against a password-protected redis-server: every
//! command of the seeds' basics, on the shared and the blocking connection.

#[path = "../../examples/basics.rs"]
#[allow(dead_code)] // the example's `main` is not used here
mod example;

use cache_runtime::{Cache, Config, Error};
use cache_test_support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeds_basics_run_on_both_connections() {
    let server = RedisServer::start_with_password("s3cret-pw");
    assert!(server.url().contains(":s3cret-pw@"));
    let cache = Config::redis(server.url()).connect().await.unwrap();
    assert!(!format!("{cache:?}").contains("s3cret-pw"));

    let report = example::demo(&cache).await.unwrap();
    assert_eq!(report.greeting.as_deref(), Some("hello"));
    assert!((59..=60).contains(&report.greeting_ttl), "{report:?}");
    assert_eq!(report.visits, 11, "INCR 1 then INCRBY 10");
    assert!(report.deleted);
    assert_eq!(report.name, "Ann");
    assert_eq!(
        report.name_and_email,
        ("Ann".into(), Some("ann@example.com".into()))
    );
    assert_eq!(
        report.user.len(),
        2,
        "HDEL removed `plan`: {:?}",
        report.user
    );
    assert_eq!(
        (report.blocking_counter, report.blocking_name.as_str()),
        (5, "Ann")
    );
    assert_eq!(
        server.cli(&["GET", "basics:greeting"]),
        "hello for a minute"
    );
}

#[tokio::test]
async fn the_embedded_store_has_no_redis_connection_to_give() {
    let cache = Cache::embedded();
    assert!(matches!(
        cache.connection().await.unwrap_err(),
        Error::NotRedis
    ));
    assert!(matches!(cache.blocking_connection(), Err(Error::NotRedis)));
}
