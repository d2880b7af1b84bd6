//! A call's result behind one type for every return type, so that the
//! call's path (`flow`) is compiled once per mode rather than once per
//! return type.
//!
//! The path decides when to decode, run the function, store, share and
//! hand out; what each step does to a value of the function's type is
//! small: [`Typed`] does it, once per return type, behind the object-safe
//! [`Held`], and the path reaches it through a [`Slot`]. The result is
//! written in place (a decoded value, the function's result, a stale
//! value) and taken by the typed code that made the slot once the path is
//! done.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::call::refresher::{Job, Refresher};
use crate::call::shape::{Kind, Shape, Value};
use crate::call::share::Sharer;
use crate::stampede::lease::Lease;
use crate::{Cache, Error};

/// What a result is, for storing and sharing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A value to store.
    Value,
    /// A result that stores nothing and is shared as such (`None`).
    Empty,
    /// A failure (`Err`): neither stored nor shared.
    Failed,
}

/// What the call's path does with its result, whatever its type. Every
/// method takes `&mut self`: a shared reference reaches nothing.
pub(crate) trait Held {
    /// The result becomes `bytes` decoded as the stored type; false (logged)
    /// when they do not decode, and the result is left as it was.
    fn decode(&mut self, cache: &Cache, shown: &str, bytes: &[u8]) -> bool;

    /// The result becomes the shape's empty result (`None`); false when the
    /// shape has none.
    fn empty(&mut self) -> bool;

    /// The result becomes a copy of a result another call shared; false
    /// when it cannot be had from it.
    fn unshare(&mut self, shared: &(dyn Any + Send + Sync)) -> bool;

    /// What the result is. Only once there is one.
    fn class(&mut self) -> Class;

    /// The JSON of the result's value. Only for [`Class::Value`].
    fn encode(&mut self, cache: &Cache) -> Result<Vec<u8>, Error>;

    /// Whether the function's `unless` refuses to store the result's value.
    fn refused(&mut self) -> bool;

    /// The result, shared, when the function's results can be shared
    /// (`Clone`); `None` when waiters and copies take its JSON instead.
    fn share(&mut self) -> Option<Arc<dyn Any + Send + Sync>>;

    /// Polls the function's body, which writes its result here when done.
    /// The body runs once.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// Starts an early refresh in a task of its own, with the job `job`
    /// makes; false when it cannot (see [`Refresher::start`]).
    fn start_refresh(&mut self, job: &dyn Fn() -> Job) -> bool;

    /// Starts the function in a task of its own (see
    /// [`Refresher::compute`]); its result is polled with `poll_running`.
    fn compute(&mut self, job: &dyn Fn() -> Job, lease: &mut Option<Lease>) -> bool;

    /// Polls the task `compute` started: `Some` once its result is here,
    /// `None` when the task ended without one.
    fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>>;
}

/// The call's result of type `R`, shaped by `S` (see [`Shape`]), with
/// what the path needs to make and keep it: the body `B`, the `unless`
/// condition, the sharer and where refreshes run (`H`).
pub(crate) struct Typed<'x, R, S, U, H: Refresher<R>, B> {
    pub(crate) result: Option<R>,
    body: Option<Pin<&'x mut B>>,
    unless: &'x U,
    sharer: Option<&'x Sharer<R>>,
    behind: &'x H,
    running: Option<H::Running>,
    shape: PhantomData<fn() -> S>,
}

impl<'x, R, S, U, H: Refresher<R>, B> Typed<'x, R, S, U, H, B> {
    pub(crate) fn new(
        body: Pin<&'x mut B>,
        unless: &'x U,
        sharer: Option<&'x Sharer<R>>,
        behind: &'x H,
    ) -> Self {
        Typed {
            result: None,
            body: Some(body),
            unless,
            sharer,
            behind,
            running: None,
            shape: PhantomData,
        }
    }
}

impl<R, S, U, H: Refresher<R>, B> Typed<'_, R, S, U, H, B>
where
    S: Shape<R, Stored: Value>,
{
    fn stored(&self) -> Option<&S::Stored> {
        match &self.result {
            Some(result) => S::stored(result),
            None => None,
        }
    }

    /// The result becomes `result`; true, for the callers that report
    /// whether it did.
    fn set(&mut self, result: R) -> bool {
        self.result = Some(result);
        true
    }
}

// Compiled once per return type, so written with `match` rather than
// `Option`'s combinators: each combinator would be one more generic
// function compiled per type.
#[allow(clippy::manual_map, clippy::redundant_pattern_matching)]
impl<R, S, U, H, B> Held for Typed<'_, R, S, U, H, B>
where
    S: Shape<R, Stored: Value>,
    U: Fn(&S::Stored) -> bool,
    H: Refresher<R>,
    B: Future<Output = R>,
{
    fn decode(&mut self, cache: &Cache, shown: &str, bytes: &[u8]) -> bool {
        match cache.decode::<S::Stored>(shown, bytes) {
            Some(stored) => self.set(S::restore(stored)),
            None => false,
        }
    }

    fn empty(&mut self) -> bool {
        match S::empty() {
            Some(empty) => self.set(empty),
            None => false,
        }
    }

    fn unshare(&mut self, shared: &(dyn Any + Send + Sync)) -> bool {
        match self.sharer {
            Some(sharer) => match sharer.unwrap(shared) {
                Some(unshared) => self.set(unshared),
                None => false,
            },
            None => false,
        }
    }

    fn class(&mut self) -> Class {
        match &self.result {
            Some(result) => match S::classify(result) {
                Kind::Value(_) => Class::Value,
                Kind::Empty => Class::Empty,
                Kind::Failed => Class::Failed,
            },
            None => Class::Failed,
        }
    }

    fn encode(&mut self, cache: &Cache) -> Result<Vec<u8>, Error> {
        match self.stored() {
            Some(value) => cache.encode(value),
            None => panic!("only a value is encoded"),
        }
    }

    fn refused(&mut self) -> bool {
        match self.stored() {
            Some(value) => (self.unless)(value),
            None => false,
        }
    }

    fn share(&mut self) -> Option<Arc<dyn Any + Send + Sync>> {
        match (self.sharer, &self.result) {
            (Some(sharer), Some(result)) => Some(sharer.wrap(result)),
            _ => None,
        }
    }

    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(body) = &mut self.body else {
            panic!("the body runs once");
        };
        match body.as_mut().poll(cx) {
            Poll::Ready(result) => {
                self.body = None;
                self.set(result);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_refresh(&mut self, job: &dyn Fn() -> Job) -> bool {
        self.behind.start(job)
    }

    fn compute(&mut self, job: &dyn Fn() -> Job, lease: &mut Option<Lease>) -> bool {
        self.running = self.behind.compute(job, lease);
        matches!(self.running, Some(_))
    }

    fn poll_running(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        match H::poll_running(&mut self.running, cx) {
            Poll::Ready(Some(result)) => {
                self.set(result);
                Poll::Ready(Some(()))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The path's reference to a call's [`Held`] result.
///
/// `Send` whatever it refers to: the typed code that makes a slot holds
/// what it refers to in the same future as the path's future that holds
/// the slot, so that future's auto traits are those of the result, the
/// body and the rest (see [`Slot::within`]); a slot made for a task of its
/// own refers to something `Send` ([`Slot::sent`]).
pub(crate) struct Slot<'s>(&'s mut (dyn Held + 's));

// SAFETY: see the type's documentation: a `Slot` is made either of a
// `Send` value (`sent`) or, by `within`, under the obligation that the
// future holding the slot holds its referent too.
unsafe impl Send for Slot<'_> {}

impl<'s> Slot<'s> {
    /// The slot of a result held by a task of its own.
    pub(crate) fn sent(held: &'s mut (impl Held + Send + 's)) -> Self {
        Slot(held)
    }

    /// The slot of a result that the future holding the slot holds too.
    ///
    /// # Safety
    ///
    /// The future that holds the slot (the path's, awaited) must hold
    /// `held` itself across every await: its auto traits then account for
    /// `held`'s, and the slot adds none.
    pub(crate) unsafe fn within(held: &'s mut (dyn Held + 's)) -> Self {
        Slot(held)
    }
}

impl<'s> Deref for Slot<'s> {
    type Target = dyn Held + 's;

    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl DerefMut for Slot<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.0
    }
}
