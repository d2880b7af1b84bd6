//! The in-process store: TTL per entry, bounded by bytes (moka), values kept
//! as the same bytes Redis would hold. Conditional writes (leases, locks,
//! sessions) are atomic per key, as the Redis commands they stand for.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moka::ops::compute::Op as Compute;
use moka::sync::Cache as Moka;
use moka::Expiry;

use crate::clock::{self, Instant};
use crate::key::KeyPattern;

pub(crate) struct EmbeddedStore {
    entries: Moka<Arc<str>, Expiring>,
    /// Each lock's fencing counter: apart from the entries, which the byte
    /// bound may evict (a counter must only grow).
    fences: Mutex<HashMap<Box<str>, u64>>,
}

#[derive(Clone)]
struct Expiring {
    value: Arc<[u8]>,
    /// `None`: kept until evicted (a `SET` without a TTL).
    expires_at: Option<Instant>,
}

impl Expiring {
    fn new(value: &[u8], ttl: Option<Duration>) -> Self {
        Expiring {
            value: value.into(),
            expires_at: ttl.and_then(deadline),
        }
    }

    fn is_live(&self, now: Instant) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }
}

/// When an entry written now with `ttl` expires; `None` (kept until
/// evicted) for a TTL past a century, which an `Instant` may not hold.
fn deadline(ttl: Duration) -> Option<Instant> {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    (ttl <= CENTURY).then(|| clock::now() + ttl)
}

/// moka's per-entry expiry: each value lives until its own `expires_at`,
/// as with `SETEX`. moka hands over its own `now`; the time left is taken
/// by this crate's clock, the one `expires_at` was set by.
struct UntilExpiry;

impl Expiry<Arc<str>, Expiring> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &Arc<str>,
        entry: &Expiring,
        _: std::time::Instant,
    ) -> Option<Duration> {
        left(entry, clock::now())
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        entry: &Expiring,
        _: std::time::Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        left(entry, clock::now())
    }
}

/// The time left at `now` (`None`: no expiry).
fn left(entry: &Expiring, now: Instant) -> Option<Duration> {
    entry.expires_at.map(|at| at.saturating_duration_since(now))
}

impl EmbeddedStore {
    pub(crate) fn new(max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, entry: &Expiring| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(UntilExpiry)
            .build();
        EmbeddedStore {
            entries,
            fences: Mutex::new(HashMap::new()),
        }
    }

    /// The value and the time it has left (`None`: no expiry).
    pub(crate) fn get(&self, key: &str) -> Option<(Arc<[u8]>, Option<Duration>)> {
        // moka hides expired entries; the check below covers the moment
        // between expiry and its housekeeping.
        let entry = self.entries.get(key)?;
        let now = clock::now();
        entry
            .is_live(now)
            .then(|| (entry.value.clone(), left(&entry, now)))
    }

    pub(crate) fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) {
        self.entries.insert(key.into(), Expiring::new(value, ttl));
    }

    /// A hash's fields, kept as one JSON object (what `HashGetAll` reads).
    #[cfg_attr(not(feature = "mapping"), allow(dead_code))] // only object mappings write hashes
    pub(crate) fn set_fields(&self, key: &str, fields: &[(String, String)], ttl: Option<Duration>) {
        let map: HashMap<&str, &str> = fields
            .iter()
            .map(|(field, value)| (field.as_str(), value.as_str()))
            .collect();
        let json = serde_json::to_vec(&map).unwrap_or_default();
        self.set(key, &json, ttl);
    }

    /// `SET NX PX` (`present: false`) or `SET XX PX`: true when set.
    pub(crate) fn set_if(&self, key: &str, value: &[u8], ttl: Duration, present: bool) -> bool {
        let mut set = false;
        self.entries.entry(key.into()).and_compute_with(|current| {
            let live = current.is_some_and(|entry| entry.value().is_live(clock::now()));
            if live != present {
                return Compute::Nop;
            }
            set = true;
            Compute::Put(Expiring::new(value, Some(ttl)))
        });
        set
    }

    /// Sets `key` to `token` for `ttl` if no other token holds it, and
    /// returns the lock's fencing number: one more than the last holder's
    /// for a new holder, the same again for the holder that has it.
    pub(crate) fn lock_acquire(&self, key: &str, token: &[u8], ttl: Duration) -> Option<u64> {
        // Held across the write, so that numbers are handed out in the
        // order holders took the lock.
        let mut fences = self
            .fences
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut again = None;
        self.entries.entry(key.into()).and_compute_with(|current| {
            match current.filter(|entry| entry.value().is_live(clock::now())) {
                Some(entry) if !holds(entry.value(), token) => return Compute::Nop,
                held => again = Some(held.is_some()),
            }
            Compute::Put(Expiring::new(token, Some(ttl)))
        });
        let fence = fences.entry(key.into()).or_insert(0);
        match again? {
            true => Some(*fence),
            false => {
                *fence += 1;
                Some(*fence)
            }
        }
    }

    /// `PEXPIRE`: a new time to live for a live entry; true when there is one.
    #[cfg_attr(not(feature = "session"), allow(dead_code))] // only sessions slide
    pub(crate) fn touch(&self, key: &str, ttl: Duration) -> bool {
        self.update(key, None, |entry| Expiring {
            value: entry.value.clone(),
            expires_at: deadline(ttl),
        })
    }

    /// Deletes the entry only while it holds `value`.
    pub(crate) fn delete_if(&self, key: &str, value: &[u8]) -> bool {
        let mut deleted = false;
        self.entries
            .entry(key.into())
            .and_compute_with(|current| match current {
                Some(entry) if holds(entry.value(), value) => {
                    deleted = true;
                    Compute::Remove
                }
                _ => Compute::Nop,
            });
        deleted
    }

    /// Sets a new time to live only while the entry holds `value`.
    pub(crate) fn expire_if(&self, key: &str, value: &[u8], ttl: Duration) -> bool {
        self.update(key, Some(value), |entry| Expiring {
            value: entry.value.clone(),
            expires_at: deadline(ttl),
        })
    }

    /// Replaces a live entry (holding `value`, when given) with `update(entry)`.
    fn update(
        &self,
        key: &str,
        value: Option<&[u8]>,
        update: impl FnOnce(&Expiring) -> Expiring,
    ) -> bool {
        let mut updated = false;
        self.entries
            .entry(key.into())
            .and_compute_with(|current| match current {
                Some(entry)
                    if entry.value().is_live(clock::now())
                        && value.is_none_or(|value| holds(entry.value(), value)) =>
                {
                    updated = true;
                    Compute::Put(update(entry.value()))
                }
                _ => Compute::Nop,
            });
        updated
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        self.entries
            .remove(key)
            .is_some_and(|entry| entry.is_live(clock::now()))
    }

    /// Every live entry whose key starts with `prefix` (a namespace's
    /// objects, for a find: the embedded store keeps no index).
    #[cfg(feature = "mapping")]
    pub(crate) fn live_with_prefix(&self, prefix: &str) -> Vec<(Arc<str>, Arc<[u8]>)> {
        let now = clock::now();
        self.entries
            .iter()
            .filter(|(key, entry)| key.starts_with(prefix) && entry.is_live(now))
            .map(|(key, entry)| (Arc::clone(&*key), entry.value.clone()))
            .collect()
    }

    pub(crate) fn delete_matching(&self, pattern: &KeyPattern) -> u64 {
        let now = clock::now();
        let mut deleted = 0;
        for (key, entry) in &self.entries {
            if pattern.matches(&key) {
                self.entries.invalidate(&**key);
                deleted += u64::from(entry.is_live(now));
            }
        }
        deleted
    }
}

fn holds(entry: &Expiring, value: &[u8]) -> bool {
    entry.is_live(clock::now()) && *entry.value == *value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::on_mock_clock;

    #[test]
    fn entry_expires_after_its_ttl() {
        on_mock_clock(|clock| {
            let store = EmbeddedStore::new(1 << 20);
            store.set("k", b"1", Some(Duration::from_millis(30)));
            let (value, ttl) = store.get("k").unwrap();
            assert_eq!(&*value, b"1");
            let ttl = ttl.unwrap();
            assert!(
                ttl <= Duration::from_millis(30) && ttl > Duration::ZERO,
                "{ttl:?}"
            );
            clock.increment(Duration::from_millis(40));
            assert!(store.get("k").is_none());
        });
    }

    #[test]
    fn set_overwrites_value_and_ttl() {
        let store = EmbeddedStore::new(1 << 20);
        store.set("k", b"old", Some(Duration::from_secs(1)));
        store.set("k", b"new", Some(Duration::from_secs(100)));
        let (value, ttl) = store.get("k").unwrap();
        assert_eq!(&*value, b"new");
        assert!(ttl.unwrap() > Duration::from_secs(99));
        store.set("k", b"kept", None);
        assert_eq!(store.get("k").unwrap().1, None, "no expiry");
    }

    #[test]
    fn conditional_writes_hold_to_the_token() {
        on_mock_clock(|clock| {
            let store = EmbeddedStore::new(1 << 20);
            let ttl = Duration::from_secs(10);
            assert!(store.set_if("lease", b"a", ttl, false));
            assert!(!store.set_if("lease", b"b", ttl, false), "held by a");
            assert!(
                !store.delete_if("lease", b"b"),
                "b cannot release a's lease"
            );
            assert!(!store.expire_if("lease", b"b", ttl));
            assert!(store.expire_if("lease", b"a", Duration::from_millis(20)));
            clock.increment(Duration::from_millis(30));
            assert!(store.set_if("lease", b"b", ttl, false), "a's lease expired");
            assert!(
                !store.delete_if("lease", b"a"),
                "a's late release leaves b's lease"
            );
            assert!(store.delete_if("lease", b"b"));
            assert!(store.get("lease").is_none());
        });
    }

    #[test]
    fn set_xx_and_touch_need_a_live_entry() {
        let store = EmbeddedStore::new(1 << 20);
        let ttl = Duration::from_secs(10);
        assert!(!store.set_if("s", b"1", ttl, true));
        assert!(!store.touch("s", ttl));
        store.set("s", b"1", Some(Duration::from_millis(20)));
        assert!(store.touch("s", ttl));
        assert!(store.set_if("s", b"2", ttl, true));
        assert_eq!(&*store.get("s").unwrap().0, b"2");
    }
}
