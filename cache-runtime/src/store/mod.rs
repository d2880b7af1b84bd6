//! The stores behind a [`Cache`](crate::Cache), one file each. A store runs
//! [`ops`] (bytes with a TTL, leases); JSON, keys and fail-open policy live
//! above it.

mod breaker;
pub(crate) mod client;
mod embedded;
pub(crate) mod ops;
mod reads;
mod redis;

use std::ops::Deref;
use std::sync::Arc;

pub(crate) use self::embedded::EmbeddedStore;
use self::ops::Op;
pub(crate) use self::redis::RedisStore;
use crate::key::KeyPattern;
use crate::Error;

#[allow(clippy::large_enum_variant)] // one per Cache, behind its Arc: size is irrelevant
pub(crate) enum Store {
    Redis(Arc<RedisStore>),
    Embedded(EmbeddedStore),
    Disabled,
}

// Each operation runs async (async functions, explicit calls) or blocking
// (sync functions). The embedded store never blocks: both are one call.
impl Store {
    pub(crate) async fn exec<O: Op>(&self, op: &O) -> Result<O::Output, Error> {
        match self {
            // Boxed: a Redis command's future (timeout, retry, batching) is
            // ~800 bytes, and would make every call's future too large for
            // the allocator's fast path.
            Store::Redis(redis) => Box::pin(redis.exec(op)).await,
            Store::Embedded(embedded) => Ok(op.embedded(embedded)),
            Store::Disabled => Ok(op.disabled()),
        }
    }

    pub(crate) fn exec_blocking<O: Op>(&self, op: &O) -> Result<O::Output, Error> {
        match self {
            Store::Redis(redis) => redis.exec_blocking(op),
            Store::Embedded(embedded) => Ok(op.embedded(embedded)),
            Store::Disabled => Ok(op.disabled()),
        }
    }

    /// A command of a lock, a session or an object mapping: under
    /// `control_timeout`, and never refused or counted by the breaker.
    pub(crate) async fn exec_control<O: Op>(&self, op: &O) -> Result<O::Output, Error> {
        match self {
            Store::Redis(redis) => Box::pin(redis.exec_control(op)).await,
            Store::Embedded(embedded) => Ok(op.embedded(embedded)),
            Store::Disabled => Ok(op.disabled()),
        }
    }

    /// [`Store::exec_control`] for sync code.
    pub(crate) fn exec_control_blocking<O: Op>(&self, op: &O) -> Result<O::Output, Error> {
        match self {
            Store::Redis(redis) => redis.exec_control_blocking(op),
            Store::Embedded(embedded) => Ok(op.embedded(embedded)),
            Store::Disabled => Ok(op.disabled()),
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
}

/// A stored value: owned when it came over the network, shared when it is
/// the embedded store's own copy.
pub(crate) enum Bytes {
    Owned(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl Bytes {
    /// The bytes as a shared slice (a copy when they were owned).
    pub(crate) fn into_shared(self) -> Arc<[u8]> {
        match self {
            Bytes::Owned(bytes) => bytes.into(),
            Bytes::Shared(bytes) => bytes,
        }
    }
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
