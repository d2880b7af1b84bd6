//! Redis connections for commands of your own, next to the cache: the
//! cache's shared, multiplexed, auto-reconnecting connection
//! ([`Cache::connection`]) and new blocking ones
//! ([`Cache::blocking_connection`]). Use them with the re-exported
//! [`redis`] crate, so that its version is the one this crate was built
//! with:
//!
//! ```no_run
//! # async fn demo(cache: &cache_runtime::Cache) -> Result<(), Box<dyn std::error::Error>> {
//! use cache_runtime::redis::AsyncCommands;
//!
//! let mut redis = cache.connection().await?;
//! let visits: u64 = redis.incr("visits", 1).await?;
//! # Ok(()) }
//! ```
//!
//! Commands sent this way are yours: they go straight to Redis, without the
//! cache's timeouts, circuit breaker or fail-open handling.

use std::fmt;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::store::Store;
use crate::{Cache, Error};

/// The cache's shared async connection: cheap to clone (clones share it),
/// safe to use from many tasks at once. Implements redis-rs's
/// `ConnectionLike`, so `AsyncCommands`, `cmd(..).query_async` and
/// pipelines work on it.
#[derive(Clone)]
pub struct Connection {
    inner: ConnectionManager,
}

impl Cache {
    /// The store's shared Redis connection, opened first if need be (within
    /// the connect timeout). [`Error::NotRedis`] for the embedded or disabled
    /// store.
    pub async fn connection(&self) -> Result<Connection, Error> {
        match self.store() {
            Store::Redis(redis) => Ok(Connection {
                inner: redis.connection().await?,
            }),
            Store::Embedded(_) | Store::Disabled => Err(Error::NotRedis),
        }
    }

    /// A new blocking Redis connection, with the cache's connect timeout and
    /// its operation timeout for reads and writes. [`Error::NotRedis`] for the
    /// embedded or disabled store.
    pub fn blocking_connection(&self) -> Result<redis::Connection, Error> {
        match self.store() {
            Store::Redis(redis) => redis.connect_blocking(),
            Store::Embedded(_) | Store::Disabled => Err(Error::NotRedis),
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        self.inner.req_packed_commands(pipeline, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}
