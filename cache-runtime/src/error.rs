//! The crate's one error type.
//!
//! A cached call never returns these: it fails open and logs them. They reach
//! users only from explicit calls (building a [`Cache`](crate::Cache),
//! [`Cache::ping`](crate::Cache::ping), [`Cache::ttl`](crate::Cache::ttl), ...).
//! No variant carries a password: URLs are stored redacted.

use std::fmt;
use std::time::Duration;

/// What went wrong talking to the cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL does not parse, or names a scheme this build cannot use.
    #[error("invalid cache URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL with its password replaced by `***`.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// Redis did not answer within the configured time.
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// A recent connection attempt failed; the next one waits for its retry time.
    #[error("Redis is unreachable (last attempt failed); retrying after {0:?}")]
    Unavailable(Duration),
    /// A Redis command was made outside a Tokio runtime, or on one built
    /// without `enable_time` (or `enable_io`): commands run on Tokio, under
    /// its timer. A cached call runs its function instead.
    #[error(
        "Redis commands need a Tokio runtime with its timer and I/O \
         (`Builder::enable_all`); this one ran outside one"
    )]
    NoTokio,
    /// Redis answered with an error, or the connection failed.
    #[error("Redis: {0}")]
    Redis(RedisError),
    /// An argument could not be serialized into the key.
    #[error("cannot serialize an argument into the cache key: {0}")]
    Key(#[source] serde_json::Error),
    /// An entry's key could not be derived (an argument failed to serialize).
    #[error("the entry has no key: {0}")]
    InvalidKey(String),
    /// A value is larger than `Config::max_value_bytes`.
    #[error("the value is {bytes} bytes of JSON, over the limit of {max}")]
    TooLarge {
        /// The value's size.
        bytes: usize,
        /// The configured limit.
        max: usize,
    },
    /// A value could not be serialized to JSON for storing.
    #[error("cannot serialize the value to JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// Clearing a whole prefix was asked of a cache without one: that would
    /// be the whole database.
    #[error("refusing to clear a cache with an empty prefix: that is the whole database")]
    EmptyPrefix,
    /// A function's keys were to be cleared, but nothing literal sets them
    /// apart from other keys: its key template starts with a hole and the
    /// prefix is empty.
    #[error(
        "refusing to clear `{0}`: its key template starts with a hole and the prefix is \
         empty, so its keys cannot be told from other keys; give it a prefix or literal text"
    )]
    Unscoped(String),
    /// A cached function whose cache comes from one of its arguments was
    /// asked to clear itself without being given one.
    #[error("`{0}` takes its cache from an argument: clear it with `clear_in(&cache)`")]
    NoCache(String),
    /// A raw Redis connection was asked of a cache whose store is not Redis.
    #[error(
        "this cache's store is not Redis (embedded or disabled): there is no connection to give"
    )]
    NotRedis,
    /// Locks and sessions need a store: this cache is disabled.
    #[error("this cache is disabled (`Config::disabled`); locks need a store")]
    NoStore,
    /// A lock was not acquired within its wait.
    #[error("lock `{name}` not acquired within {waited:?}: another holder has it")]
    LockTimeout {
        /// The lock's name.
        name: String,
        /// How long the call waited.
        waited: std::time::Duration,
    },
    /// A lock expired before it was extended or released; another holder may
    /// have it now.
    #[error("lock `{name}` was lost: it expired, and may be someone else's now")]
    LockLost {
        /// The lock's name.
        name: String,
    },
    /// The OS's random number generator failed (tokens cannot be made).
    #[error("no randomness for a token: {0}")]
    Random(String),
    /// A value could not be saved as, or loaded from, a hash or a document.
    #[error("`{key}`: {reason}")]
    Mapping {
        /// The key.
        key: String,
        /// What did not fit, e.g. `missing field \`email\``.
        reason: String,
    },
    /// The global cache was set already.
    #[error("the global cache is already set")]
    GlobalAlreadySet,
}

/// A failure Redis reported, or of the connection to it. Opaque, so that
/// this crate's API does not change with redis-rs's: the redis-rs error is
/// its [`source`](std::error::Error::source), to downcast where the detail
/// matters (`error.source()?.downcast_ref::<cache_runtime::redis::RedisError>()`).
#[derive(Clone, Debug)]
pub struct RedisError(redis::RedisError);

impl RedisError {
    pub(crate) fn inner(&self) -> &redis::RedisError {
        &self.0
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Where an [`Error`] comes from, for a caller deciding what to do with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration: a URL that does not parse, or names a scheme this
    /// build cannot use.
    Config,
    /// The store: Redis did not answer in time, is unreachable, reported an
    /// error, or was called outside a Tokio runtime. Trying again later may
    /// succeed.
    Store,
    /// A key or a value: an argument or a value that does not serialize, a
    /// value over the size limit, an object that does not fit its type.
    Value,
    /// A lock: not acquired within its wait, or lost.
    Lock,
    /// A call the cache refuses: a clear that would reach beyond its keys,
    /// a handle without a store, a Redis connection from a cache that has
    /// none, a global cache set twice.
    Usage,
    /// The operating system: no randomness for a token.
    System,
}

impl Error {
    /// Where the error comes from.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidUrl { .. } => ErrorKind::Config,
            Error::Timeout(_) | Error::Unavailable(_) | Error::NoTokio | Error::Redis(_) => {
                ErrorKind::Store
            }
            Error::Key(_)
            | Error::InvalidKey(_)
            | Error::TooLarge { .. }
            | Error::Encode(_)
            | Error::Mapping { .. } => ErrorKind::Value,
            Error::LockTimeout { .. } | Error::LockLost { .. } => ErrorKind::Lock,
            Error::EmptyPrefix
            | Error::Unscoped(_)
            | Error::NoCache(_)
            | Error::NotRedis
            | Error::NoStore
            | Error::GlobalAlreadySet => ErrorKind::Usage,
            Error::Random(_) => ErrorKind::System,
        }
    }

    /// Whether Redis did not answer within the configured time.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout(_))
    }

    /// A redis-rs error, as the crate's.
    pub(crate) fn redis(error: redis::RedisError) -> Error {
        Error::Redis(RedisError(error))
    }

    /// The same store failure again, for each of the callers it failed
    /// (a batch of reads; `store/redis/reads.rs`).
    pub(crate) fn again(&self) -> Error {
        match self {
            Error::Timeout(waited) => Error::Timeout(*waited),
            Error::Unavailable(retry) => Error::Unavailable(*retry),
            Error::Redis(error) => Error::Redis(error.clone()),
            // Not a store failure; still one, as each caller sees it.
            other => Error::redis(redis::RedisError::from((
                redis::ErrorKind::Io,
                "batched read failed",
                other.to_string(),
            ))),
        }
    }
}

#[cfg(test)]
mod kind_tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn each_failure_says_where_it_comes_from() {
        assert_eq!(
            Error::Timeout(Duration::from_millis(50)).kind(),
            ErrorKind::Store
        );
        assert!(Error::Timeout(Duration::from_millis(50)).is_timeout());
        assert!(!Error::NoTokio.is_timeout());
        let lost = Error::LockLost { name: "x".into() };
        assert_eq!(lost.kind(), ErrorKind::Lock);
        assert_eq!(Error::EmptyPrefix.kind(), ErrorKind::Usage);
        let url = Error::InvalidUrl {
            url: "x".into(),
            reason: "no scheme".into(),
        };
        assert_eq!(url.kind(), ErrorKind::Config);
    }

    /// redis-rs's error is reachable, as the source, and only there.
    #[test]
    fn a_redis_error_keeps_redis_rs_behind_its_source() {
        let error = Error::redis(redis::RedisError::from((redis::ErrorKind::Io, "reset")));
        assert_eq!(error.kind(), ErrorKind::Store);
        let Error::Redis(opaque) = &error else {
            panic!("{error:?}")
        };
        let source = opaque.source().expect("the redis-rs error");
        assert!(source.downcast_ref::<redis::RedisError>().is_some());
        assert!(error.to_string().contains("reset"), "{error}");
    }
}
