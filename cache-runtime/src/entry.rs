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

use crate::call::keys::render_tags;
use crate::call::policy::Policy;
use crate::call::shape::{Shape, Value};
use crate::call::site::stats_of;
use crate::key::KeyPattern;
use crate::stats::FunctionStats;
use crate::store::io::{block_on, Async, Blocking, Io};
use crate::store::ops::{Delete, Get, Set, Ttl};
use crate::tags::Tags;
use crate::tier::Invalidation;
use crate::{Cache, Error};

/// The entry of one call of a cached function: `R` is the function's return
/// type, `S` how much of it is stored ([`Stores`]). Get one with
/// [`entry!`](crate::entry!).
///
/// Unlike a cached call, these operations return Redis errors: an eviction
/// that did not happen must not go unnoticed.
#[must_use = "an entry does nothing until one of its operations is awaited"]
pub struct Entry<R, S> {
    cache: Cache,
    key: Result<String, String>,
    policy: Policy,
    /// The call's tags, when the function has any.
    tags: Option<Tags>,
    shape: PhantomData<fn() -> (R, S)>,
}

impl<R, S> Entry<R, S> {
    #[doc(hidden)]
    pub fn new(cache: &Cache, key: Result<String, Error>, policy: Policy) -> Self {
        let key = key.map_err(|error| error.to_string());
        Entry {
            cache: cache.clone(),
            key,
            policy,
            tags: None,
            shape: PhantomData,
        }
    }

    /// The entry of a function with `tags = [...]`, these rendered.
    #[doc(hidden)]
    pub fn tagged(mut self, tags: &[fmt::Arguments<'_>]) -> Self {
        self.tags = Some(render_tags(&self.cache, tags));
        self
    }

    /// The entry's key in the store.
    pub fn key(&self) -> Result<&str, Error> {
        self.key
            .as_deref()
            .map_err(|reason| Error::InvalidKey(reason.clone()))
    }
}

/// How much of a cached function's return type `R` is stored: all of it,
/// the `T` of `Option<T>` or `Result<T, E>`, or of `Result<Option<T>, E>`;
/// that part is JSON, so it is `Serialize` and `Deserialize`. The attribute
/// picks it from the function's signature; an [`Entry`] names it so that
/// its methods say what they need. Implemented by the attribute's shapes
/// only.
pub trait Stores<R>: Shape<R, Stored: Value> {}

impl<R, S: Shape<R, Stored: Value>> Stores<R> for S {}

impl<R, S: Stores<R>> Entry<R, S> {
    /// What the next call would return from the cache, without running the
    /// function: `None` on a miss (or an undecodable value).
    pub async fn get(&self) -> Result<Option<R>, Error> {
        self.get_with::<Async>().await
    }

    /// Deletes the entry, so that the next call runs the function. True when
    /// there was one.
    ///
    /// Copies in in-process tiers, in this process and others, are dropped
    /// too (see [`LocalTier`](crate::LocalTier)): the eviction is announced
    /// with a `PUBLISH` after the delete, and an announcement that fails is
    /// this call's error (the entry is gone from Redis, but other processes
    /// may keep their copy until it expires).
    pub async fn evict(&self) -> Result<bool, Error> {
        self.evict_with::<Async>().await
    }

    /// Writes `value` as the function's result for these arguments, with the
    /// function's TTL: the next call returns it without running the function.
    /// A value the function would not store (`None`, `Err`) evicts instead.
    /// In-process copies of the old value are dropped everywhere, announced
    /// as [`Entry::evict`] does (with the same error).
    pub async fn put(&self, value: &R) -> Result<(), Error> {
        self.put_with::<Async>(value).await
    }

    /// The time the entry has left; `None` when there is none.
    pub async fn ttl(&self) -> Result<Option<Duration>, Error> {
        Async::exec(self.cache.store(), &Ttl(self.key()?)).await
    }

    /// [`Entry::get`] for sync code.
    pub fn get_blocking(&self) -> Result<Option<R>, Error> {
        block_on(self.get_with::<Blocking>())
    }

    /// [`Entry::evict`] for sync code.
    pub fn evict_blocking(&self) -> Result<bool, Error> {
        block_on(self.evict_with::<Blocking>())
    }

    /// [`Entry::put`] for sync code.
    pub fn put_blocking(&self, value: &R) -> Result<(), Error> {
        block_on(self.put_with::<Blocking>(value))
    }

    /// [`Entry::ttl`] for sync code.
    pub fn ttl_blocking(&self) -> Result<Option<Duration>, Error> {
        block_on(Blocking::exec(self.cache.store(), &Ttl(self.key()?)))
    }

    // Each operation once, for both modes: `I` awaits (`Async`) or blocks
    // the thread (`Blocking`, driven by `block_on`).

    async fn get_with<I: Io>(&self) -> Result<Option<R>, Error> {
        let key = self.key()?;
        let bytes = match &self.tags {
            Some(tags) => {
                let (found, _) = tags.read::<I>(self.cache.store(), key).await?;
                found.map(|found| found.bytes)
            }
            None => I::exec(self.cache.store(), &Get(key)).await?,
        };
        Ok(bytes.and_then(|bytes| decode::<R, S>(&bytes)))
    }

    async fn evict_with<I: Io>(&self) -> Result<bool, Error> {
        let key = self.key()?;
        let existed = I::exec(self.cache.store(), &Delete(key)).await?;
        self.cache.announce::<I>(Invalidation::Key(key)).await?;
        Ok(existed)
    }

    async fn put_with<I: Io>(&self, value: &R) -> Result<(), Error> {
        let key = self.key()?;
        match (self.encode(value)?, &self.tags) {
            (Some(json), Some(tags)) => self.put_tagged::<I>(tags, key, &json).await?,
            (Some(json), None) => I::exec(self.cache.store(), &self.set(key, &json)).await?,
            (None, _) => drop(I::exec(self.cache.store(), &Delete(key)).await?),
        }
        self.cache.announce::<I>(Invalidation::Key(key)).await
    }

    /// Writes a tagged entry with its tags' tokens now. A tag invalidated
    /// between the read of its token and the write makes the write stand
    /// down; the value is then written with the new token, or, should that
    /// change again, evicted (the next call computes it).
    async fn put_tagged<I: Io>(&self, tags: &Tags, key: &str, json: &[u8]) -> Result<(), Error> {
        let store = self.cache.store();
        for _ in 0..2 {
            let (_, tokens) = tags.read::<I>(store, key).await?;
            let ttl = self.policy.write_ttl();
            if tags.write::<I>(store, key, json, ttl, &tokens).await? {
                return Ok(());
            }
        }
        I::exec(store, &Delete(key)).await.map(drop)
    }

    /// The JSON the function would store for `value`; `None` when it would
    /// store nothing.
    fn encode(&self, value: &R) -> Result<Option<Vec<u8>>, Error> {
        S::stored(value)
            .map(|stored| self.cache.encode_for_store(stored))
            .transpose()
    }

    fn set<'a>(&self, key: &'a str, json: &'a [u8]) -> Set<'a> {
        Set {
            key,
            value: json,
            ttl: Some(self.policy.write_ttl()),
        }
    }
}

fn decode<R, S: Shape<R, Stored: Value>>(bytes: &[u8]) -> Option<R> {
    serde_json::from_slice(bytes).ok().map(S::restore)
}

impl<R, S> fmt::Debug for Entry<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("ttl", &self.policy.ttl)
            .finish()
    }
}

/// All the entries of one cached function, and its counters. Get one with
/// [`function!`](crate::function!).
///
/// A function whose `store` comes from one of its arguments gives a handle
/// without a cache: clear it in a given cache with
/// [`clear_in`](CachedFunction::clear_in).
#[derive(Debug)]
#[must_use = "a function's handle does nothing until `clear` or `stats` is called"]
pub struct CachedFunction {
    cache: Option<Cache>,
    identity: String,
    prefix: Option<String>,
    keys: KeyScheme,
}

/// Which keys are the function's, under its prefix.
#[derive(Debug)]
enum KeyScheme {
    Hashed,
    /// The literal parts of its key template.
    Template(Vec<String>),
}

impl CachedFunction {
    #[doc(hidden)]
    pub fn hashed(cache: Option<&Cache>, prefix: Option<&str>, identity: Cow<'_, str>) -> Self {
        CachedFunction::new(cache, prefix, identity, KeyScheme::Hashed)
    }

    #[doc(hidden)]
    pub fn template(
        cache: Option<&Cache>,
        prefix: Option<&str>,
        identity: Cow<'_, str>,
        literal_parts: &[&str],
    ) -> Self {
        let parts = literal_parts.iter().map(|part| part.to_string()).collect();
        CachedFunction::new(cache, prefix, identity, KeyScheme::Template(parts))
    }

    fn new(
        cache: Option<&Cache>,
        prefix: Option<&str>,
        identity: Cow<'_, str>,
        keys: KeyScheme,
    ) -> Self {
        CachedFunction {
            cache: cache.cloned(),
            identity: identity.into_owned(),
            prefix: prefix.map(str::to_owned),
            keys,
        }
    }

    /// The function's identity, e.g. `my_app::users::find_user`.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// What the function did in this process so far: hits, misses, runs...
    pub fn stats(&self) -> FunctionStats {
        stats_of(&self.identity)
    }

    /// Deletes every entry of the function (all arguments, all versions), in
    /// batches (`SCAN` + `UNLINK`, never `KEYS`); returns how many.
    ///
    /// For a function with a key template, every key the template can render
    /// to, and no other: `user:{id}` clears `user:42` but not
    /// `user:42:orders` (an id's `:` is written `%3A`, so that key is not
    /// one of its). A template that starts with a hole, under an empty
    /// prefix, has nothing of its own to match: refused with
    /// [`Error::Unscoped`].
    ///
    /// A function whose cache comes from an argument has none here: this
    /// returns [`Error::NoCache`]; use [`clear_in`](CachedFunction::clear_in).
    pub async fn clear(&self) -> Result<u64, Error> {
        self.clear_in(self.cache()?).await
    }

    /// [`CachedFunction::clear`] for sync code.
    pub fn clear_blocking(&self) -> Result<u64, Error> {
        self.clear_in_blocking(self.cache()?)
    }

    /// Deletes every entry of the function in `cache`.
    pub async fn clear_in(&self, cache: &Cache) -> Result<u64, Error> {
        cache.delete_matching::<Async>(&self.pattern(cache)?).await
    }

    /// [`CachedFunction::clear_in`] for sync code.
    pub fn clear_in_blocking(&self, cache: &Cache) -> Result<u64, Error> {
        block_on(cache.delete_matching::<Blocking>(&self.pattern(cache)?))
    }

    fn cache(&self) -> Result<&Cache, Error> {
        self.cache
            .as_ref()
            .ok_or_else(|| Error::NoCache(self.identity.clone()))
    }

    /// The function's keys in `cache`. Refused when nothing literal sets
    /// them apart: a template that starts with a hole, under an empty
    /// prefix, would match other programs' keys.
    fn pattern(&self, cache: &Cache) -> Result<KeyPattern, Error> {
        let prefix = self.prefix.as_deref().unwrap_or(cache.prefix());
        match &self.keys {
            KeyScheme::Hashed => Ok(KeyPattern::function(prefix, &self.identity)),
            KeyScheme::Template(parts) if prefix.is_empty() && parts[0].is_empty() => {
                Err(Error::Unscoped(self.identity.clone()))
            }
            KeyScheme::Template(parts) => {
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                Ok(KeyPattern::template(prefix, &parts))
            }
        }
    }
}
