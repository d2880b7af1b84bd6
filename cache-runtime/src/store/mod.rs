//! The stores behind a [`Cache`](crate::Cache), one file each. A store moves
//! bytes with a TTL; JSON, keys and fail-open policy live above it.

mod breaker;
mod embedded;
mod redis;

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::embedded::EmbeddedStore;
pub(crate) use self::redis::RedisStore;
use crate::key::KeyPattern;
use crate::Error;

#[allow(clippy::large_enum_variant)] // one per Cache, behind its Arc: size is irrelevant
pub(crate) enum Store {
    Redis(RedisStore),
    Embedded(EmbeddedStore),
    Disabled,
}

// Each operation comes twice: async for async functions and explicit calls,
// blocking for sync functions. The embedded store never blocks, so both of
// its paths are the same call.
impl Store {
    pub(crate) async fn get(&self, key: &str) -> Result<Option<Bytes>, Error> {
        match self {
            Store::Redis(redis) => Ok(redis.get(key).await?.map(Bytes::Owned)),
            Store::Embedded(embedded) => Ok(embedded.get(key).map(Bytes::Shared)),
            Store::Disabled => Ok(None),
        }
    }

    pub(crate) fn get_blocking(&self, key: &str) -> Result<Option<Bytes>, Error> {
        match self {
            Store::Redis(redis) => Ok(redis.get_blocking(key)?.map(Bytes::Owned)),
            Store::Embedded(embedded) => Ok(embedded.get(key).map(Bytes::Shared)),
            Store::Disabled => Ok(None),
        }
    }

    pub(crate) async fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) -> Result<(), Error> {
        match self {
            Store::Redis(redis) => redis.set(key, &value, ttl).await,
            Store::Embedded(embedded) => {
                embedded.set(key, value, ttl);
                Ok(())
            }
            Store::Disabled => Ok(()),
        }
    }

    pub(crate) fn set_blocking(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Result<(), Error> {
        match self {
            Store::Redis(redis) => redis.set_blocking(key, &value, ttl),
            Store::Embedded(embedded) => {
                embedded.set(key, value, ttl);
                Ok(())
            }
            Store::Disabled => Ok(()),
        }
    }

    /// True when the key existed.
    pub(crate) async fn delete(&self, key: &str) -> Result<bool, Error> {
        match self {
            Store::Redis(redis) => redis.delete(key).await,
            Store::Embedded(embedded) => Ok(embedded.delete(key)),
            Store::Disabled => Ok(false),
        }
    }

    pub(crate) fn delete_blocking(&self, key: &str) -> Result<bool, Error> {
        match self {
            Store::Redis(redis) => redis.delete_blocking(key),
            Store::Embedded(embedded) => Ok(embedded.delete(key)),
            Store::Disabled => Ok(false),
        }
    }

    /// Deletes every key the pattern matches; returns how many.
    pub(crate) async fn delete_matching(&self, pattern: &KeyPattern) -> Result<u64, Error> {
        match self {
            Store::Redis(redis) => redis.delete_matching(pattern).await,
            Store::Embedded(embedded) => Ok(embedded.delete_matching(pattern)),
            Store::Disabled => Ok(0),
        }
    }

    pub(crate) fn delete_matching_blocking(&self, pattern: &KeyPattern) -> Result<u64, Error> {
        match self {
            Store::Redis(redis) => redis.delete_matching_blocking(pattern),
            Store::Embedded(embedded) => Ok(embedded.delete_matching(pattern)),
            Store::Disabled => Ok(0),
        }
    }

    pub(crate) async fn ttl(&self, key: &str) -> Result<Option<Duration>, Error> {
        match self {
            Store::Redis(redis) => redis.ttl(key).await,
            Store::Embedded(embedded) => Ok(embedded.ttl(key)),
            Store::Disabled => Ok(None),
        }
    }

    pub(crate) fn ttl_blocking(&self, key: &str) -> Result<Option<Duration>, Error> {
        match self {
            Store::Redis(redis) => redis.ttl_blocking(key),
            Store::Embedded(embedded) => Ok(embedded.ttl(key)),
            Store::Disabled => Ok(None),
        }
    }

    pub(crate) async fn ping(&self) -> Result<(), Error> {
        match self {
            Store::Redis(redis) => redis.ping().await,
            Store::Embedded(_) | Store::Disabled => Ok(()),
        }
    }
}

/// A stored value: owned when it came over the network, shared when it is
/// the embedded store's own copy.
pub(crate) enum Bytes {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Owned(bytes) => bytes,
            Bytes::Shared(bytes) => bytes,
        }
    }
}
