//! A shared connection that the store replaces when its runtime ends.
//!
//! A cache outlives the Tokio runtimes that use it: a test's runtime, a
//! `block_on` at start-up, a worker pool restarted. redis-rs binds a
//! connection to the runtime it was opened on: its driver is a task there
//! (a cluster connection's too, and it never reconnects), and a reconnect
//! it began there keeps that runtime's timer. When the runtime shuts down,
//! the connection is dead, and a reconnect left half-way panics when the
//! next runtime polls it (Tokio's "being shutdown").
//!
//! So each connection is watched by a task on the runtime it was opened on;
//! the runtime drops that task when it shuts down, which retires the
//! connection, and the next command opens a new one before it has failed
//! anything. A command that still meets the end (the runtime ends while it
//! polls) fails as a store failure, and retires the connections
//! ([`in_tokio`](crate::store)).

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwapOption;

use crate::Error;

/// Holds a connection `C` (a [`Shared`](super::client::Shared) in the
/// store; cheap to clone, clones share it).
pub(crate) struct Slot<C> {
    current: ArcSwapOption<Opened<C>>,
    /// Held while a connection is opened: callers that come meanwhile wait
    /// for that attempt rather than start their own.
    opening: tokio::sync::Mutex<()>,
    /// Connections opened so far: each one's generation.
    opened: AtomicU64,
    /// Attempts that failed so far (see [`Slot::get`]).
    failed: AtomicU64,
}

struct Opened<C> {
    connection: C,
    generation: u64,
    /// Set when the connection can no longer serve: its runtime ended.
    retired: AtomicBool,
    /// Dropped with the connection, which ends its runtime's watch.
    _watched: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A connection of a [`Slot`], as one command uses it.
pub(crate) struct Current<C> {
    pub(crate) connection: C,
    /// Opened for this command (it waited for the connection attempt).
    pub(crate) fresh: bool,
    pub(crate) generation: u64,
}

impl<C: Clone + Send + Sync + 'static> Slot<C> {
    pub(crate) fn new() -> Self {
        Slot {
            current: ArcSwapOption::empty(),
            opening: tokio::sync::Mutex::new(()),
            opened: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Whether the next command opens a connection first.
    #[cfg(test)]
    fn is_empty(&self) -> bool {
        !matches!(&*self.current.load(), Some(opened) if opened.is_live())
    }

    /// The live connection, opened first by `open` if need be.
    ///
    /// Callers that come while a connection is being opened wait for that
    /// attempt; if it fails, they fail with it ([`Error::Unavailable`],
    /// retrying after `retry_after`), each within one connect timeout.
    /// (Each trying in turn, the twentieth caller against a Redis that
    /// accepts connections but never answers waited twenty timeouts.)
    pub(crate) async fn get<F, Fut>(
        &self,
        open: F,
        retry_after: Duration,
    ) -> Result<Current<C>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, Error>>,
    {
        if let Some(current) = self.live() {
            return Ok(current);
        }
        // Boxed: opening is a large future, and every command's future
        // would carry its size (and move it) though it runs once.
        Box::pin(self.open(open, retry_after)).await
    }

    /// The live connection, if one is open.
    pub(crate) fn live(&self) -> Option<Current<C>> {
        match &*self.current.load() {
            Some(opened) if opened.is_live() => Some(Current {
                connection: opened.connection.clone(),
                fresh: false,
                generation: opened.generation,
            }),
            _ => None,
        }
    }

    async fn open<F, Fut>(&self, open: F, retry_after: Duration) -> Result<Current<C>, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, Error>>,
    {
        let failed_before = self.failed.load(Ordering::Acquire);
        let _opening = self.opening.lock().await;
        if let Some(current) = self.live() {
            return Ok(current);
        }
        if self.failed.load(Ordering::Acquire) != failed_before {
            return Err(Error::Unavailable(retry_after));
        }
        let connection = match open().await {
            Ok(connection) => connection,
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Release);
                return Err(error);
            }
        };
        let generation = self.opened.fetch_add(1, Ordering::Relaxed);
        let runtime = tokio::runtime::Handle::try_current().ok();
        let (watched, ended) = match runtime {
            Some(_) => {
                let (watched, ended) = tokio::sync::oneshot::channel();
                (Some(watched), Some(ended))
            }
            None => (None, None),
        };
        let opened = Arc::new(Opened {
            connection: connection.clone(),
            generation,
            retired: AtomicBool::new(false),
            _watched: watched,
        });
        if let (Some(runtime), Some(ended)) = (runtime, ended) {
            let watch = RetireOnDrop(Arc::downgrade(&opened));
            runtime.spawn(async move {
                let _watch = watch;
                // Resolves when the connection is dropped (replaced): the
                // watch ends with it. A runtime that shuts down first drops
                // this task, and `_watch` retires the connection.
                let _ = ended.await;
            });
        }
        self.current.store(Some(opened));
        Ok(Current {
            connection,
            fresh: true,
            generation,
        })
    }

    /// Retires `current`'s connection, if it is still the slot's: the next
    /// command opens another.
    pub(crate) fn retire(&self, current: &Current<C>) {
        self.retire_generation(current.generation);
    }

    /// Retires the connection of `generation`, if it is still the slot's.
    pub(crate) fn retire_generation(&self, generation: u64) {
        if let Some(opened) = &*self.current.load() {
            if opened.generation == generation {
                opened.retired.store(true, Ordering::Release);
            }
        }
    }

    /// Retires the current connection, whichever it is.
    pub(crate) fn retire_current(&self) {
        if let Some(opened) = &*self.current.load() {
            opened.retired.store(true, Ordering::Release);
        }
    }
}

impl<C> Opened<C> {
    fn is_live(&self) -> bool {
        !self.retired.load(Ordering::Acquire)
    }
}

/// Retires a connection when its runtime drops the task that holds this.
struct RetireOnDrop<C>(Weak<Opened<C>>);

impl<C> Drop for RetireOnDrop<C> {
    fn drop(&mut self) {
        if let Some(opened) = self.0.upgrade() {
            opened.retired.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::runtime;

    #[test]
    fn a_runtime_that_ends_retires_the_connections_opened_on_it() {
        let slot = Slot::<u32>::new();
        let open = |n| move || async move { Ok(n) };
        let ending = runtime();
        let first = ending.block_on(slot.get(open(1), Duration::ZERO)).unwrap();
        assert!(first.fresh);
        assert_eq!(first.connection, 1);
        let again = ending.block_on(slot.get(open(2), Duration::ZERO)).unwrap();
        assert_eq!((again.connection, again.fresh), (1, false), "opened once");
        assert!(!slot.is_empty());
        drop(ending);
        assert!(slot.is_empty(), "retired with its runtime");

        let next = runtime();
        let second = next.block_on(slot.get(open(2), Duration::ZERO)).unwrap();
        assert_eq!(second.connection, 2);
    }

    #[test]
    fn retiring_a_connection_spares_its_successor() {
        let slot = Slot::<u32>::new();
        let next = runtime();
        let first = next.block_on(slot.get(|| async { Ok(1) }, Duration::ZERO));
        let first = first.unwrap();
        slot.retire_current();
        let second = next.block_on(slot.get(|| async { Ok(2) }, Duration::ZERO));
        assert_eq!(second.unwrap().connection, 2);
        slot.retire(&first);
        assert!(!slot.is_empty(), "the first one was retired already");
    }

    #[test]
    fn callers_share_a_failed_attempt() {
        let slot = Slot::<u32>::new();
        let next = runtime();
        let refused = |_| async {
            tokio::task::yield_now().await;
            Err::<u32, _>(Error::Timeout(Duration::ZERO))
        };
        let opened = next.block_on(async {
            let first = slot.get(|| refused(()), Duration::from_secs(1));
            let second = slot.get(|| async { Ok(2) }, Duration::from_secs(1));
            tokio::join!(first, second)
        });
        assert!(matches!(opened.0, Err(Error::Timeout(_))));
        assert!(
            matches!(opened.1, Err(Error::Unavailable(_))),
            "waited for the first"
        );
        let later = next.block_on(slot.get(|| async { Ok(3) }, Duration::ZERO));
        assert_eq!(later.unwrap().connection, 3);
    }
}
