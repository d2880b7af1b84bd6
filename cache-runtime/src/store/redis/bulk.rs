//! Large values take a lane of their own.
//!
//! Every command of a store shares one multiplexed connection: while a
//! large value crosses it (megabytes, up to `max_value_bytes`), every
//! command behind it waits, and a few concurrent reads of a hot large key
//! were enough to make the others time out and open the breaker. So a key
//! whose value is large goes over a second connection, opened on first
//! need: its reads, and writes of a large value. A write knows its size; a
//! read learns it from its reply, so a large value crosses the shared
//! connection at most once per key (until the key is forgotten among many
//! others). Values under [`LARGE`] never leave the shared connection, and
//! a store that never meets a large one pays a relaxed load per command.

use std::sync::atomic::{AtomicBool, Ordering};

use redis::Value;

/// From this size on, a value travels on the bulk lane: ~0.1 ms on
/// loopback, the most a command should wait behind one.
pub(crate) const LARGE: usize = 256 * 1024;

/// Keys known to hold large values, at most this many (the least used go
/// first).
const REMEMBERED: usize = 4096;

pub(crate) struct Bulk {
    /// Whether any key was ever large: until then, nothing is looked up.
    seen: AtomicBool,
    keys: quick_cache::sync::Cache<Box<str>, ()>,
}

impl Default for Bulk {
    fn default() -> Self {
        Bulk {
            seen: AtomicBool::new(false),
            keys: quick_cache::sync::Cache::new(REMEMBERED),
        }
    }
}

impl Bulk {
    /// Whether a command on `key` (a read, or a write of `written` bytes)
    /// takes the bulk lane.
    pub(crate) fn takes(&self, key: &str, written: Option<usize>) -> bool {
        if written.is_some_and(|bytes| bytes >= LARGE) {
            self.remember(key);
            return true;
        }
        self.seen.load(Ordering::Relaxed) && self.keys.get(key).is_some()
    }

    /// Learns from a read's reply (`GET`'s value, or `[value, pttl]`)
    /// whether its key holds a large value.
    pub(crate) fn learn(&self, key: &str, reply: &Value) {
        let value = match reply {
            Value::Array(parts) => parts.first(),
            value => Some(value),
        };
        if let Some(Value::BulkString(bytes)) = value {
            if bytes.len() >= LARGE {
                self.remember(key);
            }
        }
    }

    fn remember(&self, key: &str) {
        self.keys.insert(key.into(), ());
        self.seen.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_writes_and_large_replies_send_their_keys_to_the_bulk_lane() {
        let bulk = Bulk::default();
        assert!(!bulk.takes("small", Some(10)));
        assert!(!bulk.takes("small", None));
        assert!(bulk.takes("written", Some(LARGE)));
        assert!(bulk.takes("written", None), "its reads follow");
        bulk.learn("read", &Value::BulkString(vec![0; 10]));
        assert!(!bulk.takes("read", None));
        let large = Value::Array(vec![Value::BulkString(vec![0; LARGE]), Value::Int(5)]);
        bulk.learn("read", &large);
        assert!(bulk.takes("read", None));
    }
}
