//! Redis basics through this crate's connections: strings
//! (`SET`/`GET`, `EX`, `INCR`/`INCRBY`, `DEL`) and hashes (`HSET`/`HGET`,
//! `HMGET`, `HGETALL`, `HDEL`), on the cache's shared multiplexed connection
//! and on a blocking one, with a password in the URL.
//!
//! ```sh
//! cargo run --example basics            # starts a password-protected redis-server
//! REDIS_URL=redis://:pw@host:6379/0 cargo run --example basics
//! ```

// Starts a password-protected redis-server when REDIS_URL is not set.
use cache_test_support as support;

use std::collections::HashMap;
use std::error::Error;

use cache_runtime::redis::{AsyncCommands, Commands};
use cache_runtime::{Cache, Config};

/// What the demo read back, so that tests/suite/basics.rs can check it.
#[derive(Debug, Default)]
pub struct Report {
    pub greeting: Option<String>,
    pub greeting_ttl: i64,
    pub visits: i64,
    pub deleted: bool,
    pub name: String,
    pub name_and_email: (String, Option<String>),
    pub user: HashMap<String, String>,
    pub blocking_counter: i64,
    pub blocking_name: String,
}

/// Runs every command against the cache's Redis; keys under `basics:`.
pub async fn demo(cache: &Cache) -> Result<Report, Box<dyn Error>> {
    let mut report = Report::default();

    // One shared multiplexed connection: clone it freely, use it from any task.
    let mut redis = cache.connection().await?;

    // Strings.
    let () = redis.set("basics:greeting", "hello").await?;
    report.greeting = redis.get("basics:greeting").await?;
    let () = redis
        .set_ex("basics:greeting", "hello for a minute", 60)
        .await?; // SET .. EX 60
    report.greeting_ttl = redis.ttl("basics:greeting").await?;
    let _: i64 = redis.incr("basics:visits", 1).await?; // INCR
    report.visits = redis.incr("basics:visits", 10).await?; // INCRBY
    let deleted: i64 = redis.del("basics:visits").await?;
    report.deleted = deleted == 1;

    // Hashes.
    let () = redis
        .hset_multiple(
            "basics:user:1",
            &[
                ("name", "Ann"),
                ("email", "ann@example.com"),
                ("plan", "pro"),
            ],
        )
        .await?;
    report.name = redis.hget("basics:user:1", "name").await?;
    let (name, email): (String, Option<String>) =
        redis.hmget("basics:user:1", &["name", "email"]).await?;
    report.name_and_email = (name, email);
    let _: i64 = redis.hdel("basics:user:1", "plan").await?;
    report.user = redis.hgetall("basics:user:1").await?;

    // A blocking connection, for sync code (not on an async worker thread:
    // hand it to spawn_blocking).
    let cache = cache.clone();
    let (counter, name) = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let mut redis = cache.blocking_connection().map_err(|e| e.to_string())?;
        let counter: i64 = redis.incr("basics:sync", 5).map_err(|e| e.to_string())?;
        let name: String = redis
            .hget("basics:user:1", "name")
            .map_err(|e| e.to_string())?;
        Ok((counter, name))
    })
    .await??;
    report.blocking_counter = counter;
    report.blocking_name = name;
    Ok(report)
}

#[tokio::main]
#[allow(dead_code)] // tests/suite/basics.rs includes this file for `demo`
async fn main() -> Result<(), Box<dyn Error>> {
    // A password-protected Redis: REDIS_URL, or one started for this run.
    let (url, _server) = match std::env::var("REDIS_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let server = support::RedisServer::start_with_password("s3cret-pw");
            (server.url(), Some(server))
        }
    };
    let cache = Config::redis(&url).connect().await?;
    println!("connected: {cache:?}"); // the password is redacted
    let report = demo(&cache).await?;
    println!("{report:#?}");
    Ok(())
}
