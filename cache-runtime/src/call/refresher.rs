//! Where a call's work runs when not in the call itself: an early
//! refresh, or a computation that outlives a soft timeout, and what such
//! a task needs of the call ([`Job`]).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::Span;

use crate::call::keys::TierKey;
use crate::call::site::Site;
use crate::stampede::lease::Lease;
use crate::tags::{Tags, Tokens};
use crate::tier::Epoch;
use crate::Cache;

/// What a refresh or a computation in a task of its own needs of the call.
pub(crate) struct Job {
    pub(crate) cache: Cache,
    pub(crate) site: &'static Site,
    pub(crate) key: String,
    /// The time the value had left when the call read it.
    pub(crate) left: Duration,
    /// The call's place in the in-process tier, and where invalidations
    /// stood before it read Redis.
    pub(crate) local: Option<(TierKey, Epoch)>,
    /// The call's tags, with the tokens its read found.
    pub(crate) tags: Option<(Box<Tags>, Tokens)>,
    pub(crate) span: Span,
}

/// Runs a call's work somewhere other than in the call: an early refresh,
/// or a computation that outlives a soft timeout.
pub(crate) trait Refresher<R> {
    /// A computation `compute` started: its result, or `None` when its task
    /// ended without one. A type of the refresher's own, so that a call
    /// that never computes in a task compiles no channel.
    type Running: Future<Output = Option<R>> + Unpin;

    /// Starts the refresh of `job` in a task of its own; false when it
    /// cannot (no Tokio runtime here): the call refreshes in-line.
    fn start(&self, job: impl FnOnce() -> Job) -> bool;

    /// Starts the function for `job` in a task of its own, which stores its
    /// result and holds `lease` (taken from the call) until then; the
    /// result, when it comes. `None` when it cannot: the call runs it.
    fn compute(
        &self,
        job: impl FnOnce() -> Job,
        lease: &mut Option<Lease>,
    ) -> Option<Self::Running>;

    /// Polls the computation in `running`, if any, and clears it once it
    /// is done: `Some` with its result, `None` when there was none.
    fn poll_running(running: &mut Option<Self::Running>, cx: &mut Context<'_>) -> Poll<Option<R>> {
        let Some(computing) = running else {
            return Poll::Ready(None);
        };
        match Pin::new(computing).poll(cx) {
            Poll::Ready(received) => {
                *running = None;
                Poll::Ready(received)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Refreshes and computes in the call.
pub(crate) struct Inline;

impl<R> Refresher<R> for Inline {
    type Running = std::future::Pending<Option<R>>;

    fn start(&self, _: impl FnOnce() -> Job) -> bool {
        false
    }

    fn compute(&self, _: impl FnOnce() -> Job, _: &mut Option<Lease>) -> Option<Self::Running> {
        None
    }

    fn poll_running(_: &mut Option<Self::Running>, _: &mut Context<'_>) -> Poll<Option<R>> {
        Poll::Ready(None)
    }
}

/// The result of a computation in a task, when it comes.
pub(crate) struct Received<R>(pub(crate) oneshot::Receiver<R>);

impl<R> Future for Received<R> {
    type Output = Option<R>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<R>> {
        Pin::new(&mut self.0).poll(cx).map(Result::ok)
    }
}
