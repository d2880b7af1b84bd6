//! Where a call's work runs when not in the call itself: an early
//! refresh, or a computation that outlives a soft timeout, and what such
//! a task needs of the call ([`Job`]).

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
    ) -> Option<oneshot::Receiver<R>>;
}

/// Refreshes and computes in the call.
pub(crate) struct Inline;

impl<R> Refresher<R> for Inline {
    fn start(&self, _: impl FnOnce() -> Job) -> bool {
        false
    }

    fn compute(
        &self,
        _: impl FnOnce() -> Job,
        _: &mut Option<Lease>,
    ) -> Option<oneshot::Receiver<R>> {
        None
    }
}
