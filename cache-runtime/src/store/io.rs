//! How a call talks to its store: awaiting (async functions) or blocking the
//! thread (sync functions). The call flow, leases and waits are written once,
//! as async code generic over [`Io`]; a sync function drives that code with
//! [`block_on`], its store calls block, and its pauses sleep the thread.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use crate::store::mode::Mode;
use crate::store::ops::Op;
use crate::store::Store;
use crate::Error;

/// `Mode::BLOCKING` also picks the flights a call joins.
pub(crate) trait Io: Mode {
    async fn exec<O: Op>(store: &Store, op: &O) -> Result<O::Decoded, Error>;
    /// A command of a lock (see [`Store::exec_control`]).
    async fn exec_control<O: Op>(store: &Store, op: &O) -> Result<O::Decoded, Error>;
    async fn sleep(duration: Duration);
}

/// For async functions: store calls are awaited, pauses are Tokio timers.
pub(crate) struct Async;

/// For sync functions, under [`block_on`]: store calls block the thread.
pub(crate) struct Blocking;

impl Mode for Async {
    const BLOCKING: bool = false;
}

impl Io for Async {
    async fn exec<O: Op>(store: &Store, op: &O) -> Result<O::Decoded, Error> {
        store.exec(op).await
    }

    async fn exec_control<O: Op>(store: &Store, op: &O) -> Result<O::Decoded, Error> {
        store.exec_control(op).await
    }

    /// A Tokio timer; where there is none (a runtime built without
    /// `enable_time`, or none at all: see `store::in_tokio`), the thread
    /// sleeps, which is all that is left to wait with.
    async fn sleep(duration: Duration) {
        use crate::store::without_tokio;
        if !without_tokio::known_here() {
            match std::panic::catch_unwind(|| tokio::time::sleep(duration)) {
                Ok(sleep) => return sleep.await,
                Err(_) => without_tokio::remember_here(),
            }
        }
        std::thread::sleep(duration);
    }
}

impl Mode for Blocking {
    const BLOCKING: bool = true;
}

impl Io for Blocking {
    async fn exec<O: Op>(store: &Store, op: &O) -> Result<O::Decoded, Error> {
        store.exec_blocking(op)
    }

    async fn exec_control<O: Op>(store: &Store, op: &O) -> Result<O::Decoded, Error> {
        store.exec_control_blocking(op)
    }

    async fn sleep(duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Runs a future to completion on this thread, parking it while the future
/// waits. Under [`Blocking`] the only waits are on other callers' flights.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);

    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }

    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_waits_for_a_wake_from_another_thread() {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let sending = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send(7).unwrap();
        });
        assert_eq!(block_on(receiver), Ok(7));
        sending.join().unwrap();
    }
}
