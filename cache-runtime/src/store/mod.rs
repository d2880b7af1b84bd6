//! The stores behind a [`Cache`](crate::Cache), one file each. A store runs
//! [`ops`] (bytes with a TTL, leases); JSON, keys and fail-open policy live
//! above it.

mod embedded;
#[cfg(feature = "mapping")]
pub(crate) mod index_ops;
pub(crate) mod io;
pub(crate) mod mode;
pub(crate) mod ops;
pub(crate) mod redis;
pub(crate) mod tag_ops;

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
            Store::Redis(redis) => in_tokio(redis, Box::pin(redis.exec(op))).await,
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
            Store::Redis(redis) => in_tokio(redis, Box::pin(redis.exec_control(op))).await,
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
            Store::Redis(redis) if !M::BLOCKING => {
                in_tokio(redis, Box::pin(redis.delete_matching::<M>(pattern))).await
            }
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
/// its commands fail at once.
///
/// A command can also meet the end of another runtime: the one its
/// connection is bound to, shutting down as the command polls it (a
/// connection is otherwise replaced before its runtime's end reaches a
/// command: `redis/slot.rs`). That command fails as a dropped connection
/// does, and the store's connections are retired, so that the next
/// command opens new ones on a live runtime. Any other panic goes on.
async fn in_tokio<T, F>(redis: &RedisStore, command: Pin<Box<F>>) -> Result<T, Error>
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
        Err(panic) if without_tokio::is_runtime_end(&*panic) => {
            redis.retire_connections();
            Err(without_tokio::runtime_ended())
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

    use crate::Error;

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

    fn message(panic: &(dyn Any + Send)) -> &str {
        panic
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
            .unwrap_or_default()
    }

    /// Tokio's panics for a missing runtime or a missing timer.
    pub(super) fn is_tokio_context_panic(panic: &(dyn Any + Send)) -> bool {
        let message = message(panic);
        message.contains("timers are disabled")
            || message.contains("no reactor running")
            || message.contains("context of a Tokio")
            || message.contains("IO is disabled")
    }

    /// Tokio's panic on polling a timer of a runtime that has shut down;
    /// or the panic of a reconnect that met it before, which redis-rs
    /// shares between commands and which panics again for each of them.
    pub(super) fn is_runtime_end(panic: &(dyn Any + Send)) -> bool {
        let message = message(panic);
        message.contains("being shutdown") || message.contains("inner future panicked during poll")
    }

    /// What a command that met the end of its connection's runtime fails
    /// with: a dropped connection.
    pub(super) fn runtime_ended() -> Error {
        let ended = std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "the connection's Tokio runtime has shut down",
        );
        Error::redis(ended.into())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::Config;

    /// A current-thread runtime with its timer and I/O.
    pub(crate) fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A timer first polled on a runtime that has since shut down: what a
    /// reconnect left half-way by its runtime's end holds.
    fn orphaned_timer() -> Pin<Box<tokio::time::Sleep>> {
        let ending = runtime();
        let entered = ending.enter();
        let mut sleep = Box::pin(tokio::time::sleep(Duration::from_secs(60)));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(sleep.as_mut().poll(&mut context).is_pending());
        drop(entered);
        sleep
    }

    #[test]
    fn a_command_that_meets_the_end_of_another_runtime_fails_as_a_dropped_connection() {
        let redis = RedisStore::new(&Config::redis("redis://127.0.0.1:1")).unwrap();
        let orphan = orphaned_timer();
        let command = async {
            orphan.await;
            Ok(())
        };
        let outcome = runtime().block_on(in_tokio(&redis, Box::pin(command)));
        match outcome {
            Err(Error::Redis(error)) => {
                assert!(error.to_string().contains("runtime has shut down"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_panics_go_on() {
        let redis = RedisStore::new(&Config::redis("redis://127.0.0.1:1")).unwrap();
        let command = async { panic!("a bug") };
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime().block_on(in_tokio::<(), _>(&redis, Box::pin(command)))
        }));
        assert!(outcome.is_err());
    }
}
