//! The Redis store: one shared, auto-reconnecting multiplexed connection
//! (redis-rs `ConnectionManager`), connected on first use, every command
//! bounded by the operation timeout; and, for sync functions, a small pool of
//! blocking connections with the same timeouts. Both speak the same commands
//! (built once, below), so a sync and an async function share entries.
//!
//! Connecting is the one slow step, so it has its own bound
//! (`connect_timeout`). A circuit breaker (`breaker.rs`) stops asking a Redis
//! that keeps failing; once connected, the `ConnectionManager` reconnects by
//! itself after a Redis restart, and the breaker's probe finds it back.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Client;
use tokio::sync::OnceCell;

use super::breaker::Breaker;
use super::ops::{Op, Request};
use crate::config::{redact, Config};
use crate::key::KeyPattern;
use crate::Error;

pub(crate) struct RedisStore {
    client: Client,
    /// The URL as it may be shown: password redacted.
    pub(crate) url: String,
    connection: OnceCell<ConnectionManager>,
    /// Connections for sync functions and blocking calls.
    idle: Mutex<Vec<redis::Connection>>,
    breaker: Breaker,
    connect_timeout: Duration,
    op_timeout: Duration,
}

/// A client for `url`; with the `tls` feature, trusting the configured CA.
#[cfg(feature = "tls")]
fn client(url: &str, config: &Config) -> redis::RedisResult<Client> {
    match &config.tls_root_cert_pem {
        Some(pem) => {
            let certificates = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            Client::build_with_tls(url, certificates)
        }
        None => Client::open(url),
    }
}

#[cfg(not(feature = "tls"))]
fn client(url: &str, _: &Config) -> redis::RedisResult<Client> {
    Client::open(url)
}

impl RedisStore {
    pub(crate) fn new(url: &str, config: &Config) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidUrl {
            url: redact(url),
            reason,
        };
        let tls_url = url.starts_with("rediss:") || url.starts_with("valkeys:");
        if tls_url && cfg!(not(feature = "tls")) {
            return Err(invalid(
                "TLS URLs need the `tls` feature of cache-runtime".into(),
            ));
        }
        let client = client(url, config).map_err(|error| invalid(error.to_string()))?;
        Ok(RedisStore {
            client,
            url: redact(url),
            connection: OnceCell::new(),
            idle: Mutex::new(Vec::new()),
            breaker: Breaker::new(
                config.breaker_threshold,
                config.breaker_cooldown,
                redact(url),
            ),
            connect_timeout: config.connect_timeout,
            op_timeout: config.op_timeout,
        })
    }

    pub(crate) async fn exec<O: Op>(&self, op: &O) -> Result<O::Output, Error> {
        self.query::<O::Reply>(&op.request()).await.map(O::reply)
    }

    pub(crate) fn exec_blocking<O: Op>(&self, op: &O) -> Result<O::Output, Error> {
        self.query_blocking::<O::Reply>(&op.request()).map(O::reply)
    }

    /// `SCAN`s the keyspace in batches and `UNLINK`s each batch's matches:
    /// no `KEYS`, no `FLUSHDB`, no command that blocks Redis for long.
    pub(crate) async fn delete_matching(&self, pattern: &KeyPattern) -> Result<u64, Error> {
        let (mut cursor, mut deleted) = (0, 0);
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query(&scan(cursor, pattern)).await?;
            let matching = matching_keys(keys, pattern);
            if !matching.is_empty() {
                deleted += self.query::<u64>(&unlink(&matching)).await?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    pub(crate) fn delete_matching_blocking(&self, pattern: &KeyPattern) -> Result<u64, Error> {
        let (mut cursor, mut deleted) = (0, 0);
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query_blocking(&scan(cursor, pattern))?;
            let matching = matching_keys(keys, pattern);
            if !matching.is_empty() {
                deleted += self.query_blocking::<u64>(&unlink(&matching))?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    async fn query<T: redis::FromRedisValue>(&self, request: &Request) -> Result<T, Error> {
        let permit = self.breaker.permit()?;
        let connecting = self.connection.get().is_none();
        let result = async {
            let connection = self.connection().await?;
            let send = |mut connection: ConnectionManager| async move {
                match request {
                    Request::Cmd(cmd) => cmd.query_async::<T>(&mut connection).await,
                    Request::Pipe(pipe) => pipe.query_async::<T>(&mut connection).await,
                }
            };
            // A command that meets a connection that died (Redis restarted)
            // makes the manager reconnect; one more try, within the same
            // timeout, finds the new connection. Only an I/O error on sending
            // is retried, and every op here is idempotent or conditional on a
            // token (a lease taken twice by its own holder is still its own).
            let attempts = async {
                match send(connection.clone()).await {
                    Err(error) if error.is_io_error() => send(connection).await,
                    result => result,
                }
            };
            match tokio::time::timeout(self.op_timeout, attempts).await {
                Ok(result) => Ok(result?),
                Err(_) => Err(Error::Timeout(self.op_timeout)),
            }
        }
        .await;
        permit.record(&result, connecting);
        result
    }

    /// The shared connection, opened first if need be (within the connect
    /// timeout).
    pub(crate) async fn connection(&self) -> Result<ConnectionManager, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let connect = async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                // One attempt per call: the circuit breaker decides when to try again.
                .set_number_of_retries(0);
            match tokio::time::timeout(
                self.connect_timeout,
                ConnectionManager::new_with_config(self.client.clone(), config),
            )
            .await
            {
                Ok(result) => result.map_err(Error::from),
                Err(_) => Err(Error::Timeout(self.connect_timeout)),
            }
        };
        self.connection.get_or_try_init(|| connect).await.cloned()
    }

    /// Runs `cmd` on an idle blocking connection, or a new one. A connection
    /// that failed is dropped, not returned: it may be half-way through a reply.
    fn query_blocking<T: redis::FromRedisValue>(&self, request: &Request) -> Result<T, Error> {
        let permit = self.breaker.permit()?;
        let idle = lock(&self.idle).pop();
        let connecting = idle.is_none();
        let result = idle
            .map_or_else(|| self.connect_blocking(), Ok)
            .and_then(|mut connection| {
                let value = match request {
                    Request::Cmd(cmd) => cmd.query(&mut connection)?,
                    Request::Pipe(pipe) => pipe.query(&mut connection)?,
                };
                let mut idle = lock(&self.idle);
                if idle.len() < MAX_IDLE_BLOCKING {
                    idle.push(connection);
                }
                Ok(value)
            });
        // A blocking timeout is an I/O error from the socket; name it.
        let result = result.map_err(|error| match error {
            Error::Redis(error) if error.is_timeout() => Error::Timeout(self.op_timeout),
            error => error,
        });
        permit.record(&result, connecting);
        result
    }

    /// A new blocking connection with the store's timeouts.
    pub(crate) fn connect_blocking(&self) -> Result<redis::Connection, Error> {
        let connection = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        connection.set_read_timeout(Some(self.op_timeout))?;
        connection.set_write_timeout(Some(self.op_timeout))?;
        Ok(connection)
    }
}

/// Blocking connections kept for reuse; more are opened under load and
/// closed when returned to a full pool.
const MAX_IDLE_BLOCKING: usize = 16;

/// Keys per `SCAN` reply: large enough to clear quickly, small enough that
/// each `SCAN` and `UNLINK` is short.
const SCAN_BATCH: usize = 1000;

fn unlink<K: redis::ToRedisArgs>(keys: &[K]) -> Request {
    Request::Cmd(redis::cmd("UNLINK").arg(keys).to_owned())
}

fn scan(cursor: u64, pattern: &KeyPattern) -> Request {
    Request::Cmd(
        redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern.glob())
            .arg("COUNT")
            .arg(SCAN_BATCH)
            .to_owned(),
    )
}

/// The keys that really belong to the pattern (the glob is coarser), as
/// bytes: other applications' keys need not be UTF-8.
fn matching_keys(keys: Vec<Vec<u8>>, pattern: &KeyPattern) -> Vec<Vec<u8>> {
    keys.into_iter()
        .filter(|key| std::str::from_utf8(key).is_ok_and(|key| pattern.matches(key)))
        .collect()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(all(test, not(feature = "tls")))]
mod tests {
    use super::*;

    #[test]
    fn rediss_without_the_tls_feature_is_a_clear_error() {
        let config = Config::redis("rediss://:pw@127.0.0.1:6380");
        let error = RedisStore::new("rediss://:pw@127.0.0.1:6380", &config)
            .err()
            .unwrap();
        let message = error.to_string();
        assert!(message.contains("`tls` feature"), "{message}");
        assert!(!message.contains("pw@"), "{message}");
    }
}
