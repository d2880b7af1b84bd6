//! One cached call: look the key up, run the function on a miss, store what
//! may be stored. Which part of a return value is stored depends on its shape
//! (`T`, `Option<T>`, `Result<T, E>`, `Result<Option<T>, E>`); the macro picks
//! the entry point, this module does the rest, for async and sync functions.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Cache, Error};

/// A value that can be cached: serialized to JSON on a miss, decoded on a hit.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it must implement `serde::Serialize` and `serde::Deserialize`",
    label = "the cached value's type",
    note = "derive both: `#[derive(Serialize, Deserialize)]`"
)]
pub trait Value: Serialize + DeserializeOwned {}

impl<T: Serialize + DeserializeOwned> Value for T {}

/// The default `unless`: store every storable result.
pub fn never<T: ?Sized>(_: &T) -> bool {
    false
}

/// Checks an `unless = ...` condition against the stored type once, where
/// the user wrote it; the opaque result satisfies the entry point's bound.
pub fn unless<T, U: Fn(&T) -> bool>(condition: U) -> impl Fn(&T) -> bool {
    condition
}

// One async and one blocking entry point per shape. Each states its bound on
// the stored type directly (`T: Value`), so that a missing serde derive is
// reported as such, at the user's type.
macro_rules! entry_points {
    ($($(#[$doc:meta])* $name:ident, $blocking:ident: [$($generic:ident),*] $ret:ty => $shape:ty;)*) => {$(
        $(#[$doc])*
        pub async fn $name<T: Value, $($generic,)* U: Fn(&T) -> bool>(
            cache: &Cache,
            key: Result<String, Error>,
            ttl: Duration,
            unless: U,
            body: impl Future<Output = $ret>,
        ) -> $ret {
            run::<$shape, _>(cache, key, ttl, unless, body).await
        }

        $(#[$doc])*
        pub fn $blocking<T: Value, $($generic,)* U: Fn(&T) -> bool>(
            cache: &Cache,
            key: Result<String, Error>,
            ttl: Duration,
            unless: U,
            body: impl FnOnce() -> $ret,
        ) -> $ret {
            run_blocking::<$shape, _>(cache, key, ttl, unless, body)
        }
    )*};
}

entry_points! {
    /// Caches any `T`.
    plain, plain_blocking: [] T => Whole;
    /// Caches `Some`; `None` is returned and not stored.
    some, some_blocking: [] Option<T> => SomeOnly;
    /// Caches `Ok`; `Err` is returned and not stored, and needs no serde.
    ok, ok_blocking: [E] Result<T, E> => OkOnly;
    /// Caches `Ok(Some)`; `Ok(None)` and `Err` are returned and not stored.
    ok_some, ok_some_blocking: [E] Result<Option<T>, E> => OkSome;
}

async fn run<S: Shape<R, Stored: Value>, R>(
    cache: &Cache,
    key: Result<String, Error>,
    ttl: Duration,
    unless: impl Fn(&S::Stored) -> bool,
    body: impl Future<Output = R>,
) -> R {
    let Some(key) = usable(key) else {
        return body.await;
    };
    if let Some(value) = cache.lookup::<S::Stored>(&key).await {
        tracing::debug!(key, "cache hit");
        return S::restore(value);
    }
    tracing::debug!(key, "cache miss");
    let result = body.await;
    if let Some(value) = S::stored(&result).filter(|value| !unless(value)) {
        cache.store(&key, value, ttl).await;
    }
    result
}

fn run_blocking<S: Shape<R, Stored: Value>, R>(
    cache: &Cache,
    key: Result<String, Error>,
    ttl: Duration,
    unless: impl Fn(&S::Stored) -> bool,
    body: impl FnOnce() -> R,
) -> R {
    let Some(key) = usable(key) else {
        return body();
    };
    if let Some(value) = cache.lookup_blocking::<S::Stored>(&key) {
        tracing::debug!(key, "cache hit");
        return S::restore(value);
    }
    tracing::debug!(key, "cache miss");
    let result = body();
    if let Some(value) = S::stored(&result).filter(|value| !unless(value)) {
        cache.store_blocking(&key, value, ttl);
    }
    result
}

fn usable(key: Result<String, Error>) -> Option<String> {
    key.map_err(|error| {
        tracing::warn!(%error, "argument cannot be part of a cache key; running uncached");
    })
    .ok()
}

/// Which part of a return value `R` is stored, and how it comes back.
///
/// No serde bound here: the entry points state `Value` on the stored type,
/// so that a missing derive is reported once, at the call the macro spans on
/// the user's type, and not again at every place that names the shape.
pub trait Shape<R> {
    /// The stored type.
    type Stored;
    /// The part of `result` to store, if any.
    fn stored(result: &R) -> Option<&Self::Stored>;
    /// The return value for a stored value.
    fn restore(stored: Self::Stored) -> R;
}

/// `T`: every result stored.
pub struct Whole;
/// `Option<T>`: `Some` stored.
pub struct SomeOnly;
/// `Result<T, E>`: `Ok` stored.
pub struct OkOnly;
/// `Result<Option<T>, E>`: `Ok(Some)` stored.
pub struct OkSome;

impl<T> Shape<T> for Whole {
    type Stored = T;
    fn stored(result: &T) -> Option<&T> {
        Some(result)
    }
    fn restore(stored: T) -> T {
        stored
    }
}

impl<T> Shape<Option<T>> for SomeOnly {
    type Stored = T;
    fn stored(result: &Option<T>) -> Option<&T> {
        result.as_ref()
    }
    fn restore(stored: T) -> Option<T> {
        Some(stored)
    }
}

impl<T, E> Shape<Result<T, E>> for OkOnly {
    type Stored = T;
    fn stored(result: &Result<T, E>) -> Option<&T> {
        result.as_ref().ok()
    }
    fn restore(stored: T) -> Result<T, E> {
        Ok(stored)
    }
}

impl<T, E> Shape<Result<Option<T>, E>> for OkSome {
    type Stored = T;
    fn stored(result: &Result<Option<T>, E>) -> Option<&T> {
        result.as_ref().ok()?.as_ref()
    }
    fn restore(stored: T) -> Result<Option<T>, E> {
        Ok(Some(stored))
    }
}
