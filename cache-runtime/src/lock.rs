//! A distributed lock: mutual exclusion across processes through one Redis
//! key, as the Redis documentation describes it for a single instance.
//!
//! - Acquire: sets `lock:<name>` to `<token>` with a TTL if nobody holds
//!   it (a script: `SET ... PX <ttl>` after a `GET`), the token 128 random
//!   bits of this holder's; retried with backoff until the wait runs out.
//!   In the same script, the lock's fencing counter (a key of its own that
//!   never expires) counts one more: [`LockGuard::fence`].
//! - Release: a Lua script deletes the key only if it still holds the token,
//!   so a holder whose lock expired (a long pause, a slow job) can never
//!   release the lock of the holder after it.
//! - Extend: the same check, then `PEXPIRE`; explicitly, or every third of
//!   the TTL by a watchdog task while the guard lives.
//!
//! Locks do not fail open: when Redis cannot be reached, acquiring is an
//! error, never a lock that excludes nobody.
//!
//! A lock's TTL is what keeps a crashed holder from blocking everyone: so a
//! holder that pauses past it (a GC, a swapped-out process, a slow disk)
//! may still be working when the next holder starts. No lock can stop
//! that; the resource can. Each acquisition gets a *fencing token*, a
//! number larger than every earlier holder's; write it with your data,
//! and have the resource refuse a write whose token is smaller than the
//! last it accepted:
//!
//! ```no_run
//! # async fn save(cache: &cache_runtime::Cache) -> Result<(), cache_runtime::Error> {
//! let guard = cache.lock("report:2026-12").acquire().await?;
//! let fence = guard.fence();
//! // UPDATE reports SET body = $1, fence = $2 WHERE id = $3 AND fence < $2
//! // (zero rows: a later holder wrote first; this one's lock had expired)
//! guard.release().await?;
//! # Ok(()) }
//! ```
//!
//! ```no_run
//! # async fn transfer(cache: &cache_runtime::Cache) -> Result<(), cache_runtime::Error> {
//! use std::time::Duration;
//!
//! let guard = cache
//!     .lock("account:42")
//!     .ttl(Duration::from_secs(10))
//!     .wait(Duration::from_secs(5))
//!     .acquire()
//!     .await?; // Error::LockTimeout after 5 s
//! // ... read, compute, write the balance ...
//! guard.release().await?; // Error::LockLost if it expired meanwhile
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::store::io::{block_on, Async, Blocking, Io};
use crate::store::ops::{Extend, LockAcquire, Op, Release};
use crate::store::Store;
use crate::{Cache, Error};

/// The key prefix of locks: `lock:<name>`, outside the cached results'
/// prefix, so that [`Cache::clear`] never deletes a held lock.
pub const LOCK_PREFIX: &str = "lock";

/// A lock to acquire, by name; see the [module docs](self). From
/// [`Cache::lock`].
#[derive(Clone)]
pub struct Lock {
    cache: Cache,
    name: String,
    key: String,
    ttl: Duration,
    wait: Duration,
    watchdog: bool,
}

impl Cache {
    /// The lock `name`, stored at `lock:<name>`; 10 s TTL, 10 s wait, no
    /// watchdog unless set otherwise.
    pub fn lock(&self, name: &str) -> Lock {
        Lock {
            cache: self.clone(),
            name: name.to_owned(),
            key: format!("{LOCK_PREFIX}:{name}"),
            ttl: Duration::from_secs(10),
            wait: Duration::from_secs(10),
            watchdog: false,
        }
    }
}

impl Lock {
    /// How long the lock lasts unless extended (or released): the longest a
    /// crashed holder keeps the others out.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long `acquire` waits for the lock before giving up with
    /// [`Error::LockTimeout`]. Zero tries once.
    pub fn wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// Extend the lock every third of its TTL while the guard lives (a task
    /// on the Tokio runtime; async acquires only). If an extension finds the
    /// lock gone, [`LockGuard::is_lost`] says so.
    pub fn watchdog(mut self, on: bool) -> Self {
        self.watchdog = on;
        self
    }

    /// Waits for the lock, up to the wait.
    pub async fn acquire(&self) -> Result<LockGuard, Error> {
        self.acquire_with::<Async>().await
    }

    /// Takes the lock if it is free; `None` if someone holds it.
    pub async fn try_acquire(&self) -> Result<Option<LockGuard>, Error> {
        self.try_once::<Async>().await
    }

    /// [`Lock::acquire`] for sync code.
    pub fn acquire_blocking(&self) -> Result<LockGuard, Error> {
        block_on(self.acquire_with::<Blocking>())
    }

    /// [`Lock::try_acquire`] for sync code.
    pub fn try_acquire_blocking(&self) -> Result<Option<LockGuard>, Error> {
        block_on(self.try_once::<Blocking>())
    }

    async fn acquire_with<I: Io>(&self) -> Result<LockGuard, Error> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(guard) = self.try_once::<I>().await? {
                return Ok(guard);
            }
            let waited = started.elapsed();
            if waited >= self.wait {
                return Err(Error::LockTimeout {
                    name: self.name.clone(),
                    waited,
                });
            }
            // Backoff with jitter, so that waiters do not retry in step.
            let jittered = pause.mul_f64(0.5 + fastrand::f64() / 2.0);
            I::sleep(jittered.min(self.wait - waited)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    async fn try_once<I: Io>(&self) -> Result<Option<LockGuard>, Error> {
        let store = self.cache.store();
        if matches!(store, Store::Disabled) {
            return Err(Error::NoStore);
        }
        let held = Held::new(&self.cache, self.key.clone(), I::BLOCKING)?.control();
        let acquire = LockAcquire {
            key: &held.key,
            fence: &fence_key(&self.key),
            token: &held.token,
            ttl: self.ttl,
        };
        let Some(fence) = I::exec_control(store, &acquire).await? else {
            held.forget();
            return Ok(None);
        };
        let lost = Arc::new(AtomicBool::new(false));
        let watchdog = (self.watchdog && !I::BLOCKING)
            .then(|| watchdog(&held, self.ttl, lost.clone()))
            .flatten();
        Ok(Some(LockGuard {
            name: self.name.clone(),
            fence,
            held,
            ttl: self.ttl,
            lost,
            watchdog,
        }))
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("wait", &self.wait)
            .field("watchdog", &self.watchdog)
            .finish()
    }
}

/// A held lock. Released by [`LockGuard::release`], or when dropped, as well
/// as a drop can: a blocking release in sync code, a spawned one in async
/// code, else the TTL.
#[must_use = "the lock is released when the guard is dropped: bind it (`let _guard = ...`)"]
pub struct LockGuard {
    name: String,
    fence: u64,
    held: Held,
    ttl: Duration,
    lost: Arc<AtomicBool>,
    watchdog: Option<tokio::task::JoinHandle<()>>,
}

impl LockGuard {
    /// The lock's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This acquisition's fencing token: larger than that of every earlier
    /// holder of the lock, so that a resource which remembers the largest
    /// it accepted can refuse the writes of a holder whose lock expired
    /// (see the [module docs](self)). Numbers start at 1 and only grow.
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// Whether the watchdog found the lock gone (expired, then taken or
    /// deleted). The work it protected may have overlapped another holder's.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    /// Sets the lock's time to live to `ttl` from now, if this guard still
    /// holds it; [`Error::LockLost`] if not.
    pub async fn extend(&self, ttl: Duration) -> Result<(), Error> {
        self.extend_with::<Async>(ttl).await
    }

    /// [`LockGuard::extend`] for sync code.
    pub fn extend_blocking(&self, ttl: Duration) -> Result<(), Error> {
        block_on(self.extend_with::<Blocking>(ttl))
    }

    /// Releases the lock; [`Error::LockLost`] if it had expired (and may be
    /// someone else's now, which this leaves alone).
    pub async fn release(mut self) -> Result<(), Error> {
        self.stop_watchdog();
        let released = self.held.release::<Async>().await?;
        self.lost_unless(released)
    }

    /// [`LockGuard::release`] for sync code.
    pub fn release_blocking(mut self) -> Result<(), Error> {
        self.stop_watchdog();
        let released = block_on(self.held.release::<Blocking>())?;
        self.lost_unless(released)
    }

    async fn extend_with<I: Io>(&self, ttl: Duration) -> Result<(), Error> {
        let extended = self.held.extend::<I>(ttl).await?;
        self.lost_unless(extended)
    }

    fn lost_unless(&self, held: bool) -> Result<(), Error> {
        match held {
            true => Ok(()),
            false => {
                self.lost.store(true, Ordering::Relaxed);
                Err(Error::LockLost {
                    name: self.name.clone(),
                })
            }
        }
    }

    fn stop_watchdog(&mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop_watchdog();
        // `held` releases itself when dropped.
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("key", &self.held.key)
            .field("fence", &self.fence)
            .field("ttl", &self.ttl)
            .field("lost", &self.is_lost())
            .finish_non_exhaustive()
    }
}

/// Extends the lock every third of its TTL until aborted or the lock is lost.
fn watchdog(
    held: &Held,
    ttl: Duration,
    lost: Arc<AtomicBool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    let (cache, key, token) = (held.cache.clone(), held.key.clone(), held.token.clone());
    Some(runtime.spawn(async move {
        loop {
            tokio::time::sleep(ttl / 3).await;
            let extend = Extend {
                key: &key,
                token: &token,
                ttl,
            };
            match cache.store().exec_control(&extend).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(key, "lock lost: it expired before the watchdog extended it");
                    lost.store(true, Ordering::Relaxed);
                    return;
                }
                Err(error) => tracing::warn!(key, %error, "cannot extend the lock; retrying"),
            }
        }
    }))
}

/// A key held with a token of this holder's: the part locks and stampede
/// leases share. Released by compare-and-delete, on request or on drop.
pub(crate) struct Held {
    cache: Cache,
    pub(crate) key: String,
    pub(crate) token: String,
    blocking: bool,
    /// A lock's, whose commands run as locks' do (`Store::exec_control`);
    /// else a stampede lease's, whose run as the cached call's.
    control: bool,
    released: bool,
}

impl Held {
    /// A new token for `key`, not taken yet.
    pub(crate) fn new(cache: &Cache, key: String, blocking: bool) -> Result<Self, Error> {
        Ok(Held {
            cache: cache.clone(),
            key,
            token: token()?,
            blocking,
            control: false,
            released: false,
        })
    }

    /// The key of a lock, not of a lease.
    fn control(mut self) -> Self {
        self.control = true;
        self
    }

    async fn exec<I: Io, O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        match self.control {
            true => I::exec_control(self.cache.store(), op).await,
            false => I::exec(self.cache.store(), op).await,
        }
    }

    /// Drops a token that was never taken: nothing to release.
    pub(crate) fn forget(mut self) {
        self.released = true;
    }

    /// Sets the key's TTL if it still holds the token; false if not.
    pub(crate) async fn extend<I: Io>(&self, ttl: Duration) -> Result<bool, Error> {
        let extend = Extend {
            key: &self.key,
            token: &self.token,
            ttl,
        };
        self.exec::<I, _>(&extend).await
    }

    /// Deletes the key if it still holds the token; false if not.
    pub(crate) async fn release<I: Io>(&mut self) -> Result<bool, Error> {
        self.released = true;
        let release = Release {
            key: &self.key,
            token: &self.token,
        };
        self.exec::<I, _>(&release).await
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if self.blocking {
            let release = Release {
                key: &self.key,
                token: &self.token,
            };
            let _ = match self.control {
                true => self.cache.store().exec_control_blocking(&release),
                false => self.cache.store().exec_blocking(&release),
            };
        } else if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (cache, control) = (self.cache.clone(), self.control);
            let (key, token) = (
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            runtime.spawn(async move {
                let release = Release {
                    key: &key,
                    token: &token,
                };
                let _ = match control {
                    true => cache.store().exec_control(&release).await,
                    false => cache.store().exec(&release).await,
                };
            });
        }
        // Otherwise the key expires by itself.
    }
}

/// The key of a lock's fencing counter, in the lock key's cluster slot (a
/// script may only touch keys of one slot): `{lock:<name>}:fence`, or, when
/// the lock key has a hash tag of its own, `{<tag>}:fence:<lock key>`.
/// Either starts with `{`, so no lock key (`lock:...`) is ever one. A name
/// holding a `}` with no tag before it (`a}b`, `{}x`) has no such key: on
/// a Redis Cluster, acquiring it fails (`CROSSSLOT`), on one server it
/// works.
fn fence_key(lock_key: &str) -> String {
    match crate::key::hash_tag(lock_key) {
        Some(tag) => format!("{{{tag}}}:fence:{lock_key}"),
        None => format!("{{{lock_key}}}:fence"),
    }
}

/// A random token of 128 bits, in hex, from the OS's CSPRNG.
pub(crate) fn token() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Fills `bytes` from the OS's CSPRNG (lock and lease tokens, session
/// tokens).
pub(crate) fn fill_random(bytes: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(bytes).map_err(|error| Error::Random(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_128_bit_hex_and_differ() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn an_embedded_lock_excludes_and_times_out_clearly() {
        let cache = Cache::embedded();
        let lock = cache.lock("job").wait(Duration::from_millis(50));
        let guard = lock.acquire().await.unwrap();
        assert!(lock.try_acquire().await.unwrap().is_none());
        let error = lock.acquire().await.unwrap_err();
        assert!(matches!(error, Error::LockTimeout { .. }), "{error}");
        assert!(error.to_string().contains("`job`"), "{error}");
        guard.release().await.unwrap();
        assert!(lock.try_acquire().await.unwrap().is_some());
    }

    #[test]
    fn a_fence_key_shares_its_locks_slot() {
        assert_eq!(fence_key("lock:job"), "{lock:job}:fence");
        assert_eq!(
            fence_key("lock:{user:1}:a"),
            "{user:1}:fence:lock:{user:1}:a"
        );
        assert_eq!(fence_key("lock:a:b"), "{lock:a:b}:fence");
    }

    #[tokio::test]
    async fn each_holder_gets_a_larger_fence() {
        let cache = Cache::embedded();
        let lock = cache.lock("job");
        let mut last = 0;
        for _ in 0..3 {
            let guard = lock.acquire().await.unwrap();
            assert!(guard.fence() > last, "{} after {last}", guard.fence());
            last = guard.fence();
            guard.release().await.unwrap();
        }
        assert_eq!(cache.lock("other").acquire().await.unwrap().fence(), 1);
    }

    #[tokio::test]
    async fn a_disabled_cache_refuses_locks() {
        let error = Cache::disabled().lock("x").acquire().await.unwrap_err();
        assert!(matches!(error, Error::NoStore), "{error}");
    }
}
