//! The in-process store: TTL per entry, bounded by bytes (moka), values kept
//! as the same JSON bytes Redis would hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::sync::Cache as Moka;
use moka::Expiry;

use crate::key::KeyPattern;

pub(crate) struct EmbeddedStore {
    entries: Moka<Arc<str>, Entry>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<[u8]>,
    expires_at: Instant,
}

/// Each entry lives until its own `expires_at`, as with `SETEX`.
struct UntilExpiry;

impl Expiry<Arc<str>, Entry> for UntilExpiry {
    fn expire_after_create(&self, _: &Arc<str>, entry: &Entry, now: Instant) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &Arc<str>,
        entry: &Entry,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.expires_at.saturating_duration_since(now))
    }
}

impl EmbeddedStore {
    pub(crate) fn new(max_bytes: u64) -> Self {
        let entries = Moka::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &Arc<str>, entry: &Entry| {
                u32::try_from(key.len() + entry.value.len()).unwrap_or(u32::MAX)
            })
            .expire_after(UntilExpiry)
            .build();
        EmbeddedStore { entries }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<[u8]>> {
        // moka hides expired entries; the check below covers the moment
        // between expiry and its housekeeping.
        let entry = self.entries.get(key)?;
        (entry.expires_at > Instant::now()).then_some(entry.value)
    }

    pub(crate) fn set(&self, key: &str, value: Vec<u8>, ttl: Duration) {
        let entry = Entry {
            value: value.into(),
            expires_at: Instant::now() + ttl,
        };
        self.entries.insert(key.into(), entry);
    }

    pub(crate) fn delete(&self, key: &str) -> bool {
        self.entries
            .remove(key)
            .is_some_and(|entry| entry.expires_at > Instant::now())
    }

    pub(crate) fn delete_matching(&self, pattern: &KeyPattern) -> u64 {
        let now = Instant::now();
        let mut deleted = 0;
        for (key, entry) in &self.entries {
            if pattern.matches(&key) {
                self.entries.invalidate(&**key);
                deleted += u64::from(entry.expires_at > now);
            }
        }
        deleted
    }

    pub(crate) fn ttl(&self, key: &str) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        let left = entry.expires_at.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some(left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_expires_after_its_ttl() {
        let store = EmbeddedStore::new(1 << 20);
        store.set("k", b"1".to_vec(), Duration::from_millis(30));
        assert_eq!(store.get("k").as_deref(), Some(&b"1"[..]));
        let ttl = store.ttl("k").unwrap();
        assert!(
            ttl <= Duration::from_millis(30) && ttl > Duration::ZERO,
            "{ttl:?}"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(store.get("k"), None);
        assert_eq!(store.ttl("k"), None);
    }

    #[test]
    fn set_overwrites_value_and_ttl() {
        let store = EmbeddedStore::new(1 << 20);
        store.set("k", b"old".to_vec(), Duration::from_secs(1));
        store.set("k", b"new".to_vec(), Duration::from_secs(100));
        assert_eq!(store.get("k").as_deref(), Some(&b"new"[..]));
        assert!(store.ttl("k").unwrap() > Duration::from_secs(99));
    }
}
