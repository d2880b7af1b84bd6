//! Redis connections for commands of your own, next to the cache: the
//! cache's shared, multiplexed, auto-reconnecting connection
//! ([`Cache::connection`]) and new blocking ones
//! ([`Cache::blocking_connection`]). On a Redis Cluster they are cluster
//! connections: each command goes to the node that holds its key. Use them with the re-exported
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

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

use crate::store::redis::client::{Shared, SyncConnection};
use crate::store::Store;
use crate::{Cache, Error};

/// The cache's shared async connection: cheap to clone (clones share it),
/// safe to use from many tasks at once. Implements redis-rs's
/// `ConnectionLike`, so `AsyncCommands`, `cmd(..).query_async` and
/// pipelines work on it.
#[derive(Clone)]
pub struct Connection {
    inner: Shared,
}

/// A blocking connection of the cache's own: to its server, with the
/// cache's timeouts, or to its cluster. Implements redis-rs's
/// `ConnectionLike`, so `Commands`, `cmd(..).query` and pipelines work on it.
pub struct BlockingConnection {
    inner: SyncConnection,
}

impl Cache {
    /// The store's shared Redis connection, opened first if need be (within
    /// the connect timeout). [`Error::NotRedis`] for the embedded or disabled
    /// store.
    pub async fn connection(&self) -> Result<Connection, Error> {
        match self.store() {
            Store::Redis(redis) => Ok(Connection {
                inner: redis.connection().await?.connection,
            }),
            Store::Embedded(_) | Store::Disabled => Err(Error::NotRedis),
        }
    }

    /// A new blocking Redis connection, with the cache's connect timeout and
    /// its operation timeout for reads and writes. [`Error::NotRedis`] for the
    /// embedded or disabled store.
    pub fn blocking_connection(&self) -> Result<BlockingConnection, Error> {
        match self.store() {
            Store::Redis(redis) => Ok(BlockingConnection {
                inner: redis.connect_blocking()?,
            }),
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

impl redis::ConnectionLike for BlockingConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.inner.req_packed_commands(cmd, offset, count)
    }

    fn req_command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.inner.req_command(cmd)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }

    fn supports_pipelining(&self) -> bool {
        self.inner.supports_pipelining()
    }

    fn check_connection(&mut self) -> bool {
        self.inner.check_connection()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

impl fmt::Debug for BlockingConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingConnection").finish_non_exhaustive()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}
