//! Invalidation and write-through: one entry of a cached function, chosen by
//! its arguments ([`Entry`], from [`entry!`](crate::entry!)), and all the
//! entries of a function ([`CachedFunction`], from
//! [`function!`](crate::function!)).
//!
//! Both come from code that `#[cache_result]` generates beside the function,
//! from the same arguments and options, so they cannot name another key than
//! the function itself reads and writes.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::call::{Shape, Value};
use crate::key::KeyPattern;
use crate::{Cache, Error};

/// The entry of one call of a cached function: `R` is the function's return
/// type, `S` how much of it is stored. Get one with [`entry!`](crate::entry!).
///
/// Unlike a cached call, these operations return Redis errors: an eviction
/// that did not happen must not go unnoticed.
pub struct Entry<R, S> {
    cache: Cache,
    key: Result<String, String>,
    ttl: Duration,
    shape: PhantomData<fn() -> (R, S)>,
}

impl<R, S> Entry<R, S> {
    #[doc(hidden)]
    pub fn new(cache: &Cache, key: Result<String, Error>, ttl: Duration) -> Self {
        let key = key.map_err(|error| error.to_string());
        Entry {
            cache: cache.clone(),
            key,
            ttl,
            shape: PhantomData,
        }
    }

    /// The entry's key in the store.
    pub fn key(&self) -> Result<&str, Error> {
        self.key
            .as_deref()
            .map_err(|reason| Error::InvalidKey(reason.clone()))
    }
}

impl<R, S: Shape<R, Stored: Value>> Entry<R, S> {
    /// What the next call would return from the cache, without running the
    /// function: `None` on a miss (or an undecodable value).
    pub async fn get(&self) -> Result<Option<R>, Error> {
        let bytes = self.cache.store_ref().get(self.key()?).await?;
        Ok(bytes.and_then(|bytes| decode::<R, S>(&bytes)))
    }

    /// Deletes the entry, so that the next call runs the function. True when
    /// there was one.
    pub async fn evict(&self) -> Result<bool, Error> {
        self.cache.store_ref().delete(self.key()?).await
    }

    /// Writes `value` as the function's result for these arguments, with the
    /// function's TTL: the next call returns it without running the function.
    /// A value the function would not store (`None`, `Err`) evicts instead.
    pub async fn put(&self, value: &R) -> Result<(), Error> {
        let key = self.key()?;
        match S::stored(value) {
            Some(stored) => {
                self.cache
                    .store_ref()
                    .set(key, self.cache.encode(stored)?, self.ttl)
                    .await
            }
            None => self.cache.store_ref().delete(key).await.map(drop),
        }
    }

    /// The time the entry has left; `None` when there is none.
    pub async fn ttl(&self) -> Result<Option<Duration>, Error> {
        self.cache.store_ref().ttl(self.key()?).await
    }

    /// [`Entry::get`] for sync code.
    pub fn get_blocking(&self) -> Result<Option<R>, Error> {
        let bytes = self.cache.store_ref().get_blocking(self.key()?)?;
        Ok(bytes.and_then(|bytes| decode::<R, S>(&bytes)))
    }

    /// [`Entry::evict`] for sync code.
    pub fn evict_blocking(&self) -> Result<bool, Error> {
        self.cache.store_ref().delete_blocking(self.key()?)
    }

    /// [`Entry::put`] for sync code.
    pub fn put_blocking(&self, value: &R) -> Result<(), Error> {
        let key = self.key()?;
        match S::stored(value) {
            Some(stored) => {
                self.cache
                    .store_ref()
                    .set_blocking(key, self.cache.encode(stored)?, self.ttl)
            }
            None => self.cache.store_ref().delete_blocking(key).map(drop),
        }
    }

    /// [`Entry::ttl`] for sync code.
    pub fn ttl_blocking(&self) -> Result<Option<Duration>, Error> {
        self.cache.store_ref().ttl_blocking(self.key()?)
    }
}

fn decode<R, S: Shape<R, Stored: Value>>(bytes: &[u8]) -> Option<R> {
    serde_json::from_slice(bytes).ok().map(S::restore)
}

impl<R, S> fmt::Debug for Entry<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// All the entries of one cached function. Get one with
/// [`function!`](crate::function!).
#[derive(Debug)]
pub struct CachedFunction {
    cache: Cache,
    identity: String,
    pattern: KeyPattern,
}

impl CachedFunction {
    #[doc(hidden)]
    pub fn hashed(cache: &Cache, prefix: Option<&str>, identity: Cow<'_, str>) -> Self {
        let prefix = prefix.unwrap_or(cache.prefix());
        let pattern = KeyPattern::function(prefix, &identity);
        CachedFunction {
            cache: cache.clone(),
            identity: identity.into_owned(),
            pattern,
        }
    }

    #[doc(hidden)]
    pub fn template(
        cache: &Cache,
        prefix: Option<&str>,
        identity: Cow<'_, str>,
        literal_parts: &[&str],
    ) -> Self {
        let prefix = prefix.unwrap_or(cache.prefix());
        let pattern = KeyPattern::template(prefix, literal_parts);
        CachedFunction {
            cache: cache.clone(),
            identity: identity.into_owned(),
            pattern,
        }
    }

    /// The function's identity, e.g. `my_app::users::find_user`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Deletes every entry of the function (all arguments, all versions), in
    /// batches (`SCAN` + `UNLINK`, never `KEYS`); returns how many.
    ///
    /// For a function with a key template, every key the template can render
    /// to: `user:{id}` clears `user:*`, which also holds the keys of another
    /// template such as `user:{id}:orders` under the same prefix.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.cache.store_ref().delete_matching(&self.pattern).await
    }

    /// [`CachedFunction::clear`] for sync code.
    pub fn clear_blocking(&self) -> Result<u64, Error> {
        self.cache
            .store_ref()
            .delete_matching_blocking(&self.pattern)
    }
}

/// The key of a call with hashed arguments, under the function's prefix or
/// the cache's.
#[doc(hidden)]
pub fn hashed_key(
    cache: &Cache,
    prefix: Option<&str>,
    version: Option<u32>,
    call: Result<crate::key::CallKey<'_>, Error>,
) -> Result<String, Error> {
    Ok(call?.to_key(prefix.unwrap_or(cache.prefix()), version))
}

/// The key of a call with a key template.
#[doc(hidden)]
pub fn template_key(
    cache: &Cache,
    prefix: Option<&str>,
    rendered: fmt::Arguments<'_>,
) -> Result<String, Error> {
    let rendered = rendered.to_string();
    Ok(crate::key::template_key(
        prefix.unwrap_or(cache.prefix()),
        &rendered,
    ))
}
