//! The Redis store: one shared, auto-reconnecting multiplexed connection
//! (redis-rs `ConnectionManager`), connected on first use, every command
//! bounded by the operation timeout.
//!
//! Connecting is the one slow step, so it has its own bound
//! (`connect_timeout`); after a failed attempt, calls skip Redis for
//! `retry_after` instead of each paying for a new attempt. Once connected, the
//! `ConnectionManager` reconnects by itself after a Redis restart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd};
use tokio::sync::OnceCell;

use crate::config::{redact, Config};
use crate::Error;

pub(crate) struct RedisStore {
    client: Client,
    /// The URL as it may be shown: password redacted.
    pub(crate) url: String,
    connection: OnceCell<ConnectionManager>,
    /// When the last connection attempt failed, and so when the next may start.
    next_attempt: Mutex<Option<Instant>>,
    connect_timeout: Duration,
    op_timeout: Duration,
    retry_after: Duration,
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
            next_attempt: Mutex::new(None),
            connect_timeout: config.connect_timeout,
            op_timeout: config.op_timeout,
            retry_after: config.retry_after,
        })
    }

    pub(crate) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.query(redis::cmd("GET").arg(key)).await
    }

    pub(crate) async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), Error> {
        // SETEX takes whole seconds; a TTL under one second still lives one.
        let secs = ttl.as_secs().max(1);
        self.query(redis::cmd("SETEX").arg(key).arg(secs).arg(value))
            .await
    }

    pub(crate) async fn ttl(&self, key: &str) -> Result<Option<Duration>, Error> {
        let millis: i64 = self.query(redis::cmd("PTTL").arg(key)).await?;
        // -2: no such key; -1: no expiry.
        Ok(u64::try_from(millis).ok().map(Duration::from_millis))
    }

    pub(crate) async fn ping(&self) -> Result<(), Error> {
        self.query::<String>(&redis::cmd("PING")).await.map(drop)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Error> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(self.op_timeout, cmd.query_async(&mut connection)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(Error::Timeout(self.op_timeout)),
        }
    }

    async fn connection(&self) -> Result<ConnectionManager, Error> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        self.check_retry_time()?;
        let connect = async {
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.connect_timeout))
                .set_number_of_retries(1);
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
        match self.connection.get_or_try_init(|| connect).await {
            Ok(connection) => Ok(connection.clone()),
            Err(error) => {
                *self.next_attempt.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(Instant::now() + self.retry_after);
                Err(error)
            }
        }
    }

    fn check_retry_time(&self) -> Result<(), Error> {
        let next_attempt = *self.next_attempt.lock().unwrap_or_else(|e| e.into_inner());
        match next_attempt {
            Some(at) if Instant::now() < at => Err(Error::Unavailable(self.retry_after)),
            _ => Ok(()),
        }
    }
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
