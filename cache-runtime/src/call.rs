//! One cached call: derive the key, look it up, run the function on a miss,
//! store what may be stored. Which part of a return value is stored depends on
//! its shape (`T`, `Option<T>`, `Result<T, E>`, `Result<Option<T>, E>`); the
//! macro picks the entry point, this module does the rest.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::key::CallKey;
use crate::{Cache, Error};

/// A value that can be cached: serialized to JSON on a miss, decoded on a hit.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it must implement `serde::Serialize` and `serde::Deserialize`",
    label = "the cached value's type",
    note = "derive both: `#[derive(Serialize, Deserialize)]`"
)]
pub trait Value: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Value for T {}

/// Caches any `T`.
pub async fn plain<T: Value>(
    cache: &Cache,
    key: Result<CallKey<'_>, Error>,
    ttl: Duration,
    body: impl Future<Output = T>,
) -> T {
    run::<Whole, T>(cache, key, ttl, body).await
}

/// Caches `Some`; `None` is returned and not stored.
pub async fn some<T: Value>(
    cache: &Cache,
    key: Result<CallKey<'_>, Error>,
    ttl: Duration,
    body: impl Future<Output = Option<T>>,
) -> Option<T> {
    run::<SomeOnly, Option<T>>(cache, key, ttl, body).await
}

/// Caches `Ok`; `Err` is returned and not stored, and needs no serde.
pub async fn ok<T: Value, E>(
    cache: &Cache,
    key: Result<CallKey<'_>, Error>,
    ttl: Duration,
    body: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    run::<OkOnly, Result<T, E>>(cache, key, ttl, body).await
}

/// Caches `Ok(Some)`; `Ok(None)` and `Err` are returned and not stored.
pub async fn ok_some<T: Value, E>(
    cache: &Cache,
    key: Result<CallKey<'_>, Error>,
    ttl: Duration,
    body: impl Future<Output = Result<Option<T>, E>>,
) -> Result<Option<T>, E> {
    run::<OkSome, Result<Option<T>, E>>(cache, key, ttl, body).await
}

async fn run<S: Shape<R>, R>(
    cache: &Cache,
    key: Result<CallKey<'_>, Error>,
    ttl: Duration,
    body: impl Future<Output = R>,
) -> R {
    let key = match key {
        Ok(key) => cache.key(&key),
        Err(error) => {
            tracing::warn!(%error, "argument cannot be part of a cache key; running uncached");
            return body.await;
        }
    };
    if let Some(value) = cache.lookup::<S::Stored>(&key).await {
        tracing::debug!(key, "cache hit");
        return S::restore(value);
    }
    tracing::debug!(key, "cache miss");
    let result = body.await;
    if let Some(value) = S::stored(&result) {
        cache.store(&key, value, ttl).await;
    }
    result
}

/// Which part of a return value `R` is stored, and how it comes back.
trait Shape<R> {
    type Stored: Value;
    fn stored(result: &R) -> Option<&Self::Stored>;
    fn restore(stored: Self::Stored) -> R;
}

struct Whole;
struct SomeOnly;
struct OkOnly;
struct OkSome;

impl<T: Value> Shape<T> for Whole {
    type Stored = T;
    fn stored(result: &T) -> Option<&T> {
        Some(result)
    }
    fn restore(stored: T) -> T {
        stored
    }
}

impl<T: Value> Shape<Option<T>> for SomeOnly {
    type Stored = T;
    fn stored(result: &Option<T>) -> Option<&T> {
        result.as_ref()
    }
    fn restore(stored: T) -> Option<T> {
        Some(stored)
    }
}

impl<T: Value, E> Shape<Result<T, E>> for OkOnly {
    type Stored = T;
    fn stored(result: &Result<T, E>) -> Option<&T> {
        result.as_ref().ok()
    }
    fn restore(stored: T) -> Result<T, E> {
        Ok(stored)
    }
}

impl<T: Value, E> Shape<Result<Option<T>, E>> for OkSome {
    type Stored = T;
    fn stored(result: &Result<Option<T>, E>) -> Option<&T> {
        result.as_ref().ok()?.as_ref()
    }
    fn restore(stored: T) -> Result<Option<T>, E> {
        Ok(Some(stored))
    }
}
