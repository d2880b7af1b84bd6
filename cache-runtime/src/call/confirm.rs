//! Keeping a copy of a value the call itself wrote.
//!
//! Redis's notices (see `tier`) do not say who wrote a key, and the one
//! that follows this process's own write may also stand for another
//! client's write to the same key, made just after it: Redis sends the keys
//! changed in one turn of its loop together. So the copy of a value this
//! process writes is not kept on the writer's word. A task waits for the
//! notice of the write (Redis sends it with the reply, so within a
//! millisecond here), then reads the key, and keeps the copy if Redis still
//! holds the bytes written. A write by another client after that read is
//! noticed after it, and drops the copy as any notice does; one before it
//! is what the read returns, and the bytes differ.
//!
//! The read is the one the process's next call would have made; made here,
//! it is off every call's path, and that next call is answered in the
//! process.

use std::sync::Arc;
use std::time::Duration;

use crate::call::keys::TierKey;
use crate::call::site::Site;
use crate::clock;
use crate::store::io::{Async, Io};
use crate::store::ops::Get;
use crate::tier::{Copied, Epoch};
use crate::Cache;

/// The longest the task waits for the notice of the write before it reads
/// anyway (a notice that comes after the read drops the copy again: one
/// read more, never a stale copy).
const NOTICE_WAIT: Duration = Duration::from_millis(50);

/// A value the call wrote at `key`, to keep once Redis confirms it.
pub(crate) struct Written {
    pub(crate) cache: Cache,
    pub(crate) site: &'static Site,
    pub(crate) key: String,
    pub(crate) local: TierKey,
    pub(crate) held: Copied,
    /// The bytes written.
    pub(crate) json: Arc<[u8]>,
    /// Where the key's invalidations stood before the call read it.
    pub(crate) epoch: Epoch,
    /// When the entry expires.
    pub(crate) expires: clock::Instant,
}

impl Written {
    /// Confirms and keeps the copy from a task of its own; nothing if
    /// there is no Tokio runtime here (the next call reads Redis).
    pub(crate) fn keep(self) {
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.confirm());
        }
    }

    async fn confirm(self) {
        let Some(tier) = self.cache.local_tier(&self.site.policy) else {
            return;
        };
        let waited = clock::now();
        while tier.epoch(&self.key) == self.epoch && waited.elapsed() < NOTICE_WAIT {
            Async::sleep(Duration::from_millis(1)).await;
        }
        let epoch = tier.epoch(&self.key);
        let Ok(Some(found)) = self.cache.store().exec(&Get(&self.key)).await else {
            return;
        };
        if *found != *self.json {
            return;
        }
        tier.fill(
            epoch,
            &self.local,
            &self.key,
            self.held,
            self.json.len(),
            self.expires,
            self.site.policy.local_for,
            None,
        );
    }
}
