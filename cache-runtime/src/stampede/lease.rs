//! Leases: with `lock = true`, one process computes a missing value while
//! the others wait for it, instead of every process running the function.
//!
//! The lease is the key `<key>:lease`, taken with `SET NX PX` and a random
//! token of its holder's (`lock::Held`, as for locks). It is renewed while an
//! async holder computes, and released by compare-and-delete, so a holder
//! whose lease expired cannot delete the next holder's. A holder that dies stops renewing: its lease
//! expires after the lease time, and a waiter takes over.
//!
//! Waiters poll. Each poll takes the lease if it is free and reads the value
//! in the same round trip; the first poll doubles as the check that nobody
//! stored the value between the miss and the lease. A waiter gives up after
//! the configured wait and computes itself: a bounded wait, never a hang.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant};

use crate::lock::Held;
use crate::store::io::Io;
use crate::store::ops::{Acquire, Claim, Found};
use crate::Cache;

/// Leases are renewed this many times per lease time while their holder works.
const RENEWALS_PER_TTL: u32 = 3;
/// The first pause between polls; it doubles up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(5);
const MAX_POLL: Duration = Duration::from_millis(100);

/// How a wait for a lease ended.
pub(crate) enum Waited {
    /// This call holds the lease: it computes.
    Acquired(Lease),
    /// The value is there (another process stored it, or it was there all along).
    Filled(Found),
    /// No lease within the wait, or the store failed: compute without one.
    GaveUp,
}

/// A held lease. Released explicitly by the flow, or when dropped (a
/// cancelled or panicking holder), as well as it can be then (see `Held`).
pub(crate) struct Lease {
    held: Held,
    ttl: Duration,
}

/// The lease key of a cache key.
pub(crate) fn lease_key(key: &str) -> String {
    format!("{key}:lease")
}

/// Takes `key`'s lease, or waits until a fresh value is there, up to the
/// wait. A value that is not `fresh` (past its logical TTL, kept for a
/// stale window) counts as none: its lease is taken, or waited on, as if
/// the key were missing, so that one process recomputes it.
///
/// `fresh` is a `dyn Fn`: this loop is compiled once per mode, not once per
/// cached function.
pub(crate) async fn acquire_or_wait<I: Io>(
    cache: &Cache,
    key: &str,
    fresh: &(dyn Fn(&Found) -> bool + Sync),
) -> Waited {
    let times = cache.lease_times();
    let Ok(held) = Held::new(cache, lease_key(key), I::BLOCKING) else {
        return Waited::GaveUp;
    };
    let claim = Claim {
        lease: Acquire {
            key: &held.key,
            token: &held.token,
            ttl: times.ttl,
        },
        key,
    };
    // No deadline for a wait no `Instant` can hold: it waits as if forever.
    let deadline = Instant::now().checked_add(times.wait);
    let mut pause = FIRST_POLL;
    loop {
        match I::exec(cache.store(), &claim).await {
            Ok((taken, Some(found))) if fresh(&found) => {
                if taken {
                    release::<I>(held).await;
                } else {
                    held.forget();
                }
                return Waited::Filled(found);
            }
            Ok((true, _)) => {
                let ttl = times.ttl;
                return Waited::Acquired(Lease { held, ttl });
            }
            Ok((false, _)) => {}
            Err(error) => {
                tracing::debug!(%error, "cannot take the lease; computing without it");
                held.forget();
                return Waited::GaveUp;
            }
        }
        let now = Instant::now();
        let left = deadline.map_or(Duration::MAX, |deadline| {
            deadline.saturating_duration_since(now)
        });
        if left.is_zero() {
            tracing::debug!(wait = ?times.wait, "waited for the lease holder long enough; computing");
            held.forget();
            return Waited::GaveUp;
        }
        I::sleep(pause.min(left)).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Takes `key`'s lease if it is free; `None` when someone holds it (or the
/// store fails).
pub(crate) async fn try_acquire<I: Io>(cache: &Cache, key: &str) -> Option<Lease> {
    let times = cache.lease_times();
    let held = Held::new(cache, lease_key(key), I::BLOCKING).ok()?;
    let acquire = Acquire {
        key: &held.key,
        token: &held.token,
        ttl: times.ttl,
    };
    match I::exec(cache.store(), &acquire).await {
        Ok(true) => Some(Lease {
            held,
            ttl: times.ttl,
        }),
        Ok(false) => {
            held.forget();
            None
        }
        Err(error) => {
            tracing::debug!(%error, "cannot take the lease");
            held.forget();
            None
        }
    }
}

async fn release<I: Io>(mut held: Held) {
    if let Err(error) = held.release::<I>().await {
        tracing::debug!(%error, "cannot release the lease; it expires by itself");
    }
}

impl Lease {
    /// Runs `work` while renewing the lease (async callers; a sync caller's
    /// thread is busy with the work, and its lease time must cover it).
    pub(crate) async fn hold<I: Io, F: Future>(&self, work: F) -> F::Output {
        if I::BLOCKING {
            return work.await;
        }
        let mut work = pin!(work);
        let period = self.ttl / RENEWALS_PER_TTL;
        let mut renewing = true;
        loop {
            if !renewing {
                return work.await;
            }
            tokio::select! {
                biased;
                output = &mut work => return output,
                () = tokio::time::sleep(period) => renewing = self.renew::<I>().await,
            }
        }
    }

    /// Sets the lease's time again; false once it is lost.
    async fn renew<I: Io>(&self) -> bool {
        match self.held.extend::<I>(self.ttl).await {
            Ok(true) => true,
            Ok(false) => {
                // No key: the call's span names the function and shows its key.
                tracing::warn!("lease lost while computing; another process may compute too");
                false
            }
            Err(error) => {
                tracing::debug!(%error, "cannot renew the lease");
                true
            }
        }
    }

    pub(crate) async fn release<I: Io>(self) {
        release::<I>(self.held).await;
    }
}
