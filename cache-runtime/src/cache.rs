//! [`Cache`]: a handle on one store with its prefix, and the process-wide
//! default cache that `#[cache_result]` uses unless told otherwise.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::call::policy::Policy;
use crate::config::{Backend, Config, LeaseTimes};
use crate::key::{CallKey, KeyPattern};
use crate::stampede::flight::Flights;
use crate::store::io::{block_on, Async, Blocking, Io};
use crate::store::ops::{Get, Ping, Publish, Ttl};
use crate::store::tag_ops::NewToken;
use crate::store::{EmbeddedStore, RedisStore, Store};
use crate::tier::{Invalidation, Local, Tier};
use crate::Error;

/// A cache: a store (Redis, embedded or disabled) and a key prefix.
///
/// Cheap to clone (one `Arc`); clones share the connection. Build one with
/// [`Config`], and either make it the global default with [`set_global`] or
/// give it to functions with `#[cache_result(store = ...)]`.
///
/// A Redis connection belongs to the Tokio runtime that opened it: use a
/// `Cache` from one runtime (the usual `#[tokio::main]` service does).
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

struct Inner {
    prefix: Box<str>,
    store: Store,
    max_value_bytes: usize,
    lease_times: LeaseTimes,
    flights: Flights,
    /// The in-process tier, for Redis stores.
    local: Option<Local>,
}

/// Which kind of store a [`Cache`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// A Redis server.
    Redis,
    /// A Redis Cluster.
    RedisCluster,
    /// The in-process store.
    Embedded,
    /// No store: every call runs its function.
    Disabled,
}

impl Cache {
    pub(crate) fn from_config(config: Config) -> Result<Cache, Error> {
        let store = match &config.backend {
            Backend::Redis { .. } | Backend::Cluster { .. } | Backend::Sentinel(_) => {
                Store::Redis(RedisStore::new(&config)?)
            }
            Backend::Embedded => Store::Embedded(EmbeddedStore::new(config.embedded_max_bytes)),
            Backend::Disabled => Store::Disabled,
        };
        Ok(Cache::with_store(store, config))
    }

    fn with_store(store: Store, config: Config) -> Cache {
        // The calls' clock calibrates itself on its first read (under a
        // millisecond here, 200 ms at most): here, not in a first call.
        quanta::Instant::now();
        let local = match &store {
            Store::Redis(redis) => Some(Local::new(
                config.local,
                &config.prefix,
                redis.nodes.clone(),
                config.connect_timeout,
            )),
            Store::Embedded(_) | Store::Disabled => None,
        };
        let inner = Inner {
            local,
            prefix: config.prefix.into(),
            store,
            max_value_bytes: config.max_value_bytes,
            lease_times: config.lease_times,
            flights: Flights::default(),
        };
        Cache {
            inner: Arc::new(inner),
        }
    }

    /// An embedded (in-process) cache with the default settings.
    pub fn embedded() -> Cache {
        let config = Config::embedded();
        Cache::with_store(
            Store::Embedded(EmbeddedStore::new(config.embedded_max_bytes)),
            config,
        )
    }

    /// A cache that stores nothing: every call runs its function.
    pub fn disabled() -> Cache {
        Cache::with_store(Store::Disabled, Config::disabled())
    }

    /// The key prefix (namespace).
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Which kind of store this is.
    pub fn kind(&self) -> StoreKind {
        match &self.inner.store {
            Store::Redis(redis) if redis.is_cluster() => StoreKind::RedisCluster,
            Store::Redis(_) => StoreKind::Redis,
            Store::Embedded(_) => StoreKind::Embedded,
            Store::Disabled => StoreKind::Disabled,
        }
    }

    /// The full key of a call in this cache: `<prefix>:<identity>:<md5>`.
    pub fn key(&self, call: &CallKey<'_>) -> String {
        call.to_key(&self.inner.prefix, None)
    }

    /// Checks that the store answers (connecting first if need be).
    pub async fn ping(&self) -> Result<(), Error> {
        self.inner.store.exec(&Ping).await
    }

    /// The time `key` has left, `None` when it does not exist (or has no TTL).
    pub async fn ttl(&self, key: &str) -> Result<Option<Duration>, Error> {
        self.inner.store.exec(&Ttl(key)).await
    }

    /// The raw bytes stored at `key` (JSON for entries this crate wrote).
    pub async fn get_raw(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let bytes = self.inner.store.exec(&Get(key)).await?;
        Ok(bytes.map(|bytes| bytes.to_vec()))
    }

    /// Deletes every entry under this cache's prefix, in batches (`SCAN` and
    /// `UNLINK`, never `KEYS` or `FLUSHDB`); returns how many. Refused for an
    /// empty prefix, which would mean the whole database.
    pub async fn clear(&self) -> Result<u64, Error> {
        self.delete_matching::<Async>(&self.prefix_pattern()?).await
    }

    /// [`Cache::clear`] for sync code.
    pub fn clear_blocking(&self) -> Result<u64, Error> {
        block_on(self.delete_matching::<Blocking>(&self.prefix_pattern()?))
    }

    /// Makes every entry written with `tag` (by `tags = [...]`, in any
    /// function and any process) a miss from now on, in Redis and in every
    /// in-process tier: the tag gets a new token (one write, however many
    /// entries carry it), and in-process tiers are told. A value computed
    /// before this call and stored after it is never served.
    ///
    /// `tag` is the tag as its template renders it: `"user:42"` for
    /// `"user:{id}"` with `id = 42`. (A hole's text is written as in a key
    /// template: `%`, `:`, braces, glob characters and control characters
    /// are percent-encoded.) An error means the tag may not have changed.
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), Error> {
        self.invalidate_tags_with::<Async>(&[tag]).await
    }

    /// [`Cache::invalidate_tag`] for each of `tags`.
    pub async fn invalidate_tags(&self, tags: &[&str]) -> Result<(), Error> {
        self.invalidate_tags_with::<Async>(tags).await
    }

    /// [`Cache::invalidate_tag`] for sync code.
    pub fn invalidate_tag_blocking(&self, tag: &str) -> Result<(), Error> {
        block_on(self.invalidate_tags_with::<Blocking>(&[tag]))
    }

    /// [`Cache::invalidate_tags`] for sync code.
    pub fn invalidate_tags_blocking(&self, tags: &[&str]) -> Result<(), Error> {
        block_on(self.invalidate_tags_with::<Blocking>(tags))
    }

    async fn invalidate_tags_with<I: Io>(&self, tags: &[&str]) -> Result<(), Error> {
        for tag in tags {
            let key = crate::key::tag_key(&self.inner.prefix, tag);
            let token = crate::lock::token()?;
            let renew = NewToken {
                key: &key,
                token: &token,
            };
            I::exec(&self.inner.store, &renew).await?;
            self.announce::<I>(Invalidation::Tag(&key)).await?;
        }
        Ok(())
    }

    /// Deletes the keys `pattern` matches, and announces it: in-process
    /// tiers drop every copy (clears are rare; a pattern is not worth
    /// matching copy by copy). Announced even when the delete failed: it
    /// may have deleted some keys before it did, and a copy must not
    /// outlive its key.
    pub(crate) async fn delete_matching<I: Io>(&self, pattern: &KeyPattern) -> Result<u64, Error> {
        let deleted = self.inner.store.delete_matching::<I>(pattern).await;
        let announced = self.announce::<I>(Invalidation::All).await;
        settled(deleted, announced)
    }

    fn prefix_pattern(&self) -> Result<KeyPattern, Error> {
        if self.inner.prefix.is_empty() {
            return Err(Error::EmptyPrefix);
        }
        Ok(KeyPattern::prefix(&self.inner.prefix))
    }

    pub(crate) fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn flights(&self) -> &Flights {
        &self.inner.flights
    }

    /// The in-process tier, if a function with `policy` uses one and it is on.
    pub(crate) fn local_tier(&self, policy: &Policy) -> Option<&Tier> {
        self.inner.local.as_ref()?.for_policy(policy)
    }

    /// Drops the copies `what` names from every process's in-process tier:
    /// this one's now, the others' through the channel. Called after the
    /// write in Redis, so that a process that reads again finds it.
    pub(crate) async fn announce<I: Io>(&self, what: Invalidation<'_>) -> Result<(), Error> {
        match self.invalidate_here(what) {
            Some(publish) => I::exec(&self.inner.store, &publish).await,
            None => Ok(()),
        }
    }

    /// Drops `what` from this process's tier; the `PUBLISH` that tells the
    /// others (none for a store without tiers).
    fn invalidate_here(&self, what: Invalidation<'_>) -> Option<Publish<'_>> {
        let local = self.inner.local.as_ref()?;
        local.invalidate(what);
        Some(Publish {
            channel: local.channel(),
            message: what.message(),
        })
    }

    pub(crate) fn lease_times(&self) -> LeaseTimes {
        self.inner.lease_times
    }

    /// The JSON of `value`.
    pub(crate) fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, Error> {
        crate::json::to_value_bytes(value).map_err(Error::Encode)
    }

    /// Refuses JSON over the size limit.
    pub(crate) fn check_size(&self, json: &[u8]) -> Result<(), Error> {
        let max = self.inner.max_value_bytes;
        match json.len() > max {
            true => Err(Error::TooLarge {
                bytes: json.len(),
                max,
            }),
            false => Ok(()),
        }
    }

    /// JSON of `value` for storing: refused over the size limit.
    pub(crate) fn encode_for_store<T: Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<Vec<u8>, Error> {
        let json = self.encode(value)?;
        self.check_size(&json)?;
        Ok(json)
    }

    /// A stored value decoded from JSON. A value over the size limit, or one
    /// that does not decode as `T`, is logged and read as a miss.
    pub(crate) fn decode<T: DeserializeOwned>(&self, key: &str, bytes: &[u8]) -> Option<T> {
        if !self.decodable(key, bytes) {
            return None;
        }
        // A `match`, not `Result`'s combinators: this is compiled once per
        // stored type.
        match serde_json::from_slice(bytes) {
            Ok(value) => Some(value),
            Err(error) => {
                undecodable(key, &error);
                None
            }
        }
    }

    /// Whether `bytes` are within the size limit (logged when not). Apart
    /// from `decode`, which is compiled once per stored type.
    fn decodable(&self, key: &str, bytes: &[u8]) -> bool {
        let fits = self.check_size(bytes);
        if let Err(error) = &fits {
            tracing::warn!(key, %error, "cached value over the size limit; treating it as a miss");
        }
        fits.is_ok()
    }
}

/// A stored value did not decode as the function's type: logged, read as
/// a miss.
fn undecodable(key: &str, error: &serde_json::Error) {
    tracing::warn!(key, %error, "cached value does not decode; treating it as a miss");
}

/// A store operation of a cached call failed; the call goes on without it.
/// While the circuit breaker is open every call would fail the same way; the
/// breaker logged that once, so these are debug lines.
pub(crate) fn log_store_failure(key: &str, error: &Error) {
    match error {
        Error::Unavailable(_) => tracing::debug!(key, %error, "cache skipped"),
        error => tracing::warn!(key, %error, "cache operation failed; going on without it"),
    }
}

// Built here, not in config.rs: a configuration knows nothing of what is
// built from it.
impl Config {
    /// Builds the cache. Fails only on a URL that cannot be used; it does not
    /// connect (see [`Config::connect`] for that).
    pub fn build(self) -> Result<Cache, Error> {
        Cache::from_config(self)
    }

    /// Builds the cache and checks that its store answers, within the
    /// connect timeout. For services where Redis is optional:
    ///
    /// ```no_run
    /// # async fn start() {
    /// use cache_runtime::{Cache, Config};
    ///
    /// let cache = Config::from_env().connect().await.unwrap_or_else(|error| {
    ///     eprintln!("no Redis ({error}); caching in this process only");
    ///     Cache::embedded()
    /// });
    /// # }
    /// ```
    pub async fn connect(self) -> Result<Cache, Error> {
        let cache = self.build()?;
        cache.ping().await?;
        Ok(cache)
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Cache");
        match &self.inner.store {
            Store::Redis(redis) => debug.field("url", &redis.url),
            Store::Embedded(_) => debug.field("store", &"embedded"),
            Store::Disabled => debug.field("store", &"disabled"),
        };
        debug.field("prefix", &self.inner.prefix).finish()
    }
}

static GLOBAL: OnceLock<Cache> = OnceLock::new();

/// Makes `cache` the default for every `#[cache_result]` without a `store`
/// option. Call it once at start-up, before the first cached call; otherwise
/// the default is built from the environment ([`Config::from_env`]).
pub fn set_global(cache: Cache) -> Result<(), Error> {
    GLOBAL.set(cache).map_err(|_| Error::GlobalAlreadySet)
}

/// The default cache: the one given to [`set_global`], or else Redis at
/// `REDIS_URL` (default `redis://127.0.0.1:6379`), built on first use.
pub fn global() -> &'static Cache {
    GLOBAL.get_or_init(|| {
        Config::from_env().build().unwrap_or_else(|error| {
            tracing::error!(%error, "cannot build the cache from REDIS_URL; caching is off");
            crate::notice::GLOBAL_FROM_ENV.unheard(format_args!(
                "cannot build the cache from REDIS_URL ({error}); every call runs uncached"
            ));
            Cache::disabled()
        })
    })
}

/// A clear's count once announced; the delete's error first, if both failed.
fn settled(deleted: Result<u64, Error>, announced: Result<(), Error>) -> Result<u64, Error> {
    let deleted = deleted?;
    announced?;
    Ok(deleted)
}
