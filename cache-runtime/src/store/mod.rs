//! The stores behind a [`Cache`](crate::Cache), one file each. A store runs
//! [`ops`] (bytes with a TTL, leases); JSON, keys and fail-open policy live
//! above it.

mod embedded;
pub(crate) mod io;
pub(crate) mod mode;
pub(crate) mod ops;
pub(crate) mod redis;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub(crate) use self::embedded::EmbeddedStore;
use futures_util::FutureExt as _;

use self::mode::Mode;
pub(crate) use self::ops::Bytes;
use self::ops::Op;
pub(crate) use self::redis::RedisStore;
use crate::key::KeyPattern;
use crate::Error;

#[allow(clippy::large_enum_variant)] // one per Cache, behind its Arc: size is irrelevant
pub(crate) enum Store {
    Redis(Arc<RedisStore>),
    Embedded(EmbeddedStore),
    Disabled,
}

// Each operation runs async (async functions, explicit calls) or blocking
// (sync functions); only Redis tells the two apart. The embedded store
// never blocks: both are one call (`in_process`).
impl Store {
    pub(crate) async fn exec<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        match self {
            // Boxed: a Redis command's future (timeout, retry, batching) is
            // ~800 bytes, and would make every call's future too large for
            // the allocator's fast path.
            Store::Redis(redis) => in_tokio(Box::pin(redis.exec(op))).await,
            _ => Ok(self.in_process(op)),
        }
    }

    pub(crate) fn exec_blocking<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        match self {
            Store::Redis(redis) => redis.exec_blocking(op),
            _ => Ok(self.in_process(op)),
        }
    }

    /// A command of a lock, a session or an object mapping: under
    /// `control_timeout`, and never refused or counted by the breaker.
    pub(crate) async fn exec_control<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        match self {
            Store::Redis(redis) => in_tokio(Box::pin(redis.exec_control(op))).await,
            _ => Ok(self.in_process(op)),
        }
    }

    /// [`Store::exec_control`] for sync code.
    pub(crate) fn exec_control_blocking<O: Op>(&self, op: &O) -> Result<O::Decoded, Error> {
        match self {
            Store::Redis(redis) => redis.exec_control_blocking(op),
            _ => Ok(self.in_process(op)),
        }
    }

    /// `op` on a store in this process: the embedded store's answer, or the
    /// disabled store's (nothing stored, nothing found). Redis is answered
    /// by its connection, in the callers above.
    fn in_process<O: Op>(&self, op: &O) -> O::Decoded {
        match self {
            Store::Embedded(embedded) => op.embedded(embedded),
            Store::Disabled => op.disabled(),
            Store::Redis(_) => unreachable!("a Redis command goes through its connection"),
        }
    }

    /// Deletes every key the pattern matches; returns how many.
    pub(crate) async fn delete_matching<M: Mode>(
        &self,
        pattern: &KeyPattern,
    ) -> Result<u64, Error> {
        match self {
            Store::Redis(redis) => redis.delete_matching::<M>(pattern).await,
            Store::Embedded(embedded) => Ok(embedded.delete_matching(pattern)),
            Store::Disabled => Ok(0),
        }
    }
}

/// Runs a Redis command's future, boxed by the caller (a command's future,
/// with its timeout, retry and batching, is ~800 bytes; held here unboxed,
/// it would make every call's box too large for the allocator's fast path).
///
/// Every command runs under a Tokio timer and on redis-rs's Tokio
/// connection. Polled outside a Tokio runtime, or on one built without
/// `enable_time`, Tokio panics; the call would panic with it. So such a
/// panic is caught, and the command fails with [`Error::NoTokio`], which a
/// cached call meets as any store failure: its function runs. Tokio prints
/// its panic message the first time (there is no other way to ask a
/// runtime whether it has a timer); the context is then remembered and
/// its commands fail at once. Any other panic goes on.
async fn in_tokio<T, F>(command: Pin<Box<F>>) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    if without_tokio::known_here() {
        return Err(Error::NoTokio);
    }
    match std::panic::AssertUnwindSafe(command).catch_unwind().await {
        Ok(result) => result,
        Err(panic) if without_tokio::is_tokio_context_panic(&*panic) => {
            without_tokio::remember_here();
            Err(Error::NoTokio)
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The contexts where Tokio cannot run a command: no runtime, or runtimes
/// (by id) without a timer. Checked only once one has been seen, so that
/// a process that never meets one pays nothing.
pub(crate) mod without_tokio {
    use std::any::Any;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use tokio::runtime::{Handle, Id};

    static SEEN: AtomicBool = AtomicBool::new(false);
    /// `None`: outside any runtime.
    static CONTEXTS: Mutex<Vec<Option<Id>>> = Mutex::new(Vec::new());

    fn current() -> Option<Id> {
        Handle::try_current().ok().map(|handle| handle.id())
    }

    fn contexts() -> std::sync::MutexGuard<'static, Vec<Option<Id>>> {
        CONTEXTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn known_here() -> bool {
        SEEN.load(Ordering::Relaxed) && contexts().contains(&current())
    }

    pub(crate) fn remember_here() {
        let here = current();
        let mut contexts = contexts();
        if !contexts.contains(&here) {
            contexts.push(here);
        }
        SEEN.store(true, Ordering::Relaxed);
    }

    /// Tokio's panics for a missing runtime or a missing timer.
    pub(super) fn is_tokio_context_panic(panic: &(dyn Any + Send)) -> bool {
        let message = panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_default();
        message.contains("timers are disabled")
            || message.contains("no reactor running")
            || message.contains("context of a Tokio")
            || message.contains("IO is disabled")
    }
}
