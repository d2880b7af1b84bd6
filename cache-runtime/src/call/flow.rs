//! The path of one cached call, written once for async and sync functions
//! (see [`Io`]):
//!
//! 0. with the in-process tier (`tier`), a fresh copy answers at once;
//!    otherwise the call goes on below and keeps a copy of what it reads or
//!    writes;
//! 1. read the key, with its time left when the policy needs it; a fresh
//!    value is a hit, which may start an early refresh (XFetch);
//! 2. on a miss, join the key's flight, or lead it (`stampede::flight`); a waiter
//!    takes the leader's outcome; a leader whose read is older than a
//!    flight that closed since reads again;
//! 3. the leader, with `lock`, takes the key's lease or waits for the
//!    process that holds it (`stampede::lease`); then it runs the function, stores
//!    what may be stored, and lands the flight;
//! 4. if the function fails and a stale value is at hand
//!    (`stale_if_error`), that value is returned instead.
//!
//! Store failures are logged and counted, never returned: the function runs
//! and its result is returned whatever the store does.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::{Instrument, Span};

use crate::call::confirm::Written;
use crate::call::keys::{CallKeys, TierKey};
use crate::call::policy::Freshness;
use crate::call::refresher::{Inline, Job, Received, Refresher};
use crate::call::shape::{Shape, Value};
use crate::call::share::Sharer;
use crate::call::site::Site;
use crate::call::slot::{Class, Slot, Typed};
use crate::clock;
use crate::stampede::flight::{land, publish, running_here, Joined, Lead, Outcome, Running};
use crate::stampede::lease::{self, Lease, Waited};
use crate::stats::Event;
use crate::store::io::{Async, Io};
use crate::store::ops::{Delete, Found, Get, Read, Set};
use crate::store::Bytes;
use crate::tags::{Tags, Tokens};
use crate::tier::{self, Copied, Epoch, Tier};
use crate::{Cache, Error};

/// What a read of the store found.
enum Looked {
    /// A fresh value, now the call's result.
    Hit,
    /// A fresh value close to expiry, now the call's result, with its JSON
    /// and its time left: refresh it.
    Due(Bytes, Duration),
    /// Nothing fresh; the stale value when the policy serves one.
    Miss(Option<Bytes>),
}

/// A call's Redis key, and the tier with its key there (`CallKeys::split`).
type SplitKeys<'k> = (String, Option<(&'k Tier, TierKey)>);

/// Why a call returns a stale value.
#[derive(Clone, Copy)]
enum StaleFor {
    /// The function failed (`stale_if_error`).
    Failure,
    /// The function is slower than its `soft_timeout`.
    Slow,
    /// Another task or process computes the key (`soft_timeout`).
    ComputedElsewhere,
}

/// What a refresh did.
enum Refreshed {
    /// Another refresh runs (in this process, or with `lock` in another).
    Skipped,
    /// The key was written again since the call read it: its value is the
    /// result.
    Newer,
    /// The function ran: its result, stored if it could be.
    Ran,
}

/// A wait for the lease ended with the stale value as the result.
struct Served;

/// Where the value a call keeps a copy of came from.
#[derive(Clone, Copy)]
enum Source {
    /// Read from Redis.
    Read,
    /// Written to Redis by the call.
    Written,
}

/// A call's place in the in-process tier, for the copy it may keep.
struct Filling<'a> {
    tier: &'a Tier,
    /// Where invalidations stood before the call read Redis.
    epoch: Epoch,
    local: TierKey,
}

/// One call's parts, as the generated code hands them over.
pub(crate) struct Call<'a, R, U, H = Inline> {
    /// What does not depend on the return type.
    ctx: Ctx<'a>,
    unless: U,
    sharer: Option<Sharer<R>>,
    /// Where an early refresh runs: in the call ([`Inline`]), or in a task
    /// of its own ([`Behind`]).
    behind: H,
    result: PhantomData<fn() -> R>,
}

/// The parts of a call that do not depend on its return type, and the
/// call's path itself, which reaches the result through a [`Slot`]:
/// compiled once per mode, not once per return type.
struct Ctx<'a> {
    site: &'static Site,
    cache: &'a Cache,
    /// `cache` at debug level: the function, the key, and the outcome
    /// (`local_hit`, `hit`, `miss`, `coalesced`, `uncached`).
    span: Span,
    /// The call's tags, when the function has any (boxed: most have none).
    tagging: Option<Box<Tagging>>,
}

/// Refreshes and computes in a task: the body made anew from clones of
/// the arguments (`make`), stored as the call would have stored it.
pub(crate) struct Behind<'m, S, U, M> {
    pub(crate) make: &'m M,
    pub(crate) unless: Arc<U>,
    pub(crate) shape: PhantomData<fn() -> S>,
}

/// What a task of [`Behind`] does.
enum Work<R> {
    /// An early refresh, answering nobody.
    Refresh,
    /// A miss's computation under the call's lease; its result goes to the
    /// caller, unless another task computes the key already.
    Compute(Option<Lease>, oneshot::Sender<R>),
}

impl<S, U, M> Behind<'_, S, U, M> {
    /// Does `work` for `job` in a task on `runtime`, with a new body and
    /// the condition, as a call of its own.
    fn spawn<R, F>(&self, runtime: Handle, job: Job, work: Work<R>)
    where
        R: Send + 'static,
        S: Shape<R, Stored: Value + Send + Sync> + 'static,
        U: Fn(&S::Stored) -> bool + Send + Sync + 'static,
        M: Fn() -> F,
        F: Future<Output = R> + Send + 'static,
    {
        let span = job.span.clone();
        let body = (self.make)();
        let unless = Arc::clone(&self.unless);
        let task = async move {
            let mut job = job;
            let cache = job.cache.clone();
            let ctx = Ctx::for_job(&cache, &mut job);
            let unless = move |value: &S::Stored| unless(value);
            let body = pin!(body);
            let mut typed = Typed::<R, S, _, _, F>::new(body, &unless, None, &Inline);
            let slot = &mut Slot::sent(&mut typed);
            match work {
                Work::Refresh => {
                    ctx.refresh_behind(slot, &job.key, job.left, job.local)
                        .await
                }
                Work::Compute(lease, sender) => {
                    let computed = ctx.compute_behind(slot, &job.key, job.local, lease).await;
                    // The caller may have gone with the stale value: the
                    // result is stored all the same. (Computed by another
                    // task: the caller hears nothing, and takes the stale
                    // value at once.)
                    if let Some(result) = typed.result.filter(|_| computed) {
                        let _ = sender.send(result);
                    }
                }
            }
        };
        runtime.spawn(task.instrument(span));
    }
}

impl<R, S, U, M, F> Refresher<R> for Behind<'_, S, U, M>
where
    R: Send + 'static,
    S: Shape<R, Stored: Value + Send + Sync> + 'static,
    U: Fn(&S::Stored) -> bool + Send + Sync + 'static,
    M: Fn() -> F,
    F: Future<Output = R> + Send + 'static,
{
    type Running = Received<R>;

    fn start(&self, job: impl FnOnce() -> Job) -> bool {
        let Ok(runtime) = Handle::try_current() else {
            return false;
        };
        self.spawn(runtime, job(), Work::Refresh);
        true
    }

    fn compute(&self, job: impl FnOnce() -> Job, lease: &mut Option<Lease>) -> Option<Received<R>> {
        let runtime = Handle::try_current().ok()?;
        let (sender, receiver) = oneshot::channel();
        self.spawn(runtime, job(), Work::Compute(lease.take(), sender));
        Some(Received(receiver))
    }
}

/// A tagged call's tags, and the tokens its latest read found: a write
/// stores the value with those, unless a tag changed since (`tags`).
struct Tagging {
    tags: Box<Tags>,
    read: Mutex<Tokens>,
}

impl Tagging {
    fn new(tags: Box<Tags>) -> Box<Self> {
        let read = Mutex::new(vec![None; tags.keys().len()]);
        Box::new(Tagging { tags, read })
    }

    fn read(&self) -> MutexGuard<'_, Tokens> {
        self.read
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<'a, R, U> Call<'a, R, U> {
    pub(crate) fn new(
        site: &'static Site,
        cache: &'a Cache,
        unless: U,
        sharer: Option<Sharer<R>>,
    ) -> Self {
        Call {
            ctx: Ctx::new(site, cache),
            unless,
            sharer,
            behind: Inline,
            result: PhantomData,
        }
    }

    /// With an early refresh that runs in a task of its own.
    pub(crate) fn refreshing<H: Refresher<R>>(self, behind: H) -> Call<'a, R, U, H> {
        Call {
            ctx: self.ctx,
            unless: self.unless,
            sharer: self.sharer,
            behind,
            result: PhantomData,
        }
    }
}

impl<'a, R, U, H: Refresher<R>> Call<'a, R, U, H> {
    /// Starts the call: answered at once from the in-process tier when it
    /// holds a fresh copy, or else the rest of the call, in one box (under
    /// 1 KB: the body is a pointer to where the caller pinned it). Either
    /// way the future the caller awaits is small: an in-process hit builds
    /// no call future at all (building, then moving, it was a fifth of a
    /// hit's time on two busy cores).
    ///
    /// Not generic over the function's own body, so compiled once per
    /// return type: an entry point handed an erased body wraps the answer
    /// in a `Bound` with the body's type (see `call::body`).
    pub(crate) fn start<I: Io, S, B>(
        self,
        keys: Result<CallKeys<'_>, Error>,
        body: B,
    ) -> Answer<R, impl Future<Output = R> + use<'a, '_, R, U, H, I, S, B>>
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
        B: Future<Output = R>,
    {
        // quanta's clock (the TSC): two reads of std's were 15 % of a local
        // hit here. The start also serves as the tier's `now`.
        let started = clock::now();
        if let Some(copied) = self.ctx.local_copy_of(&keys, started) {
            // The value is handed on as the `Option` it was made in, never
            // unwrapped and wrapped again: each move of a value just
            // written stalls on store forwarding.
            let hit = self.local_value::<S>(copied);
            if hit.is_some() {
                self.ctx.answered_locally(&keys, started);
                return Answer::Ready(hit);
            }
        }
        Answer::Pending(Box::pin(self.run::<I, S, B>(keys, body, started)))
    }

    /// Runs the call on the path every return type shares ([`Ctx::run`]),
    /// with its result, body and the rest behind a [`Slot`], and returns
    /// the result the path leaves there.
    ///
    /// An `async` block, not an `async fn`: a function's arguments would
    /// keep a second room in its future for their whole life, and the
    /// call's box is held within the allocator's fast path (see the size
    /// tests). For the same reason the keys are split here and the path
    /// takes them by reference, and the call's span is entered here rather
    /// than held a second time by an `Instrumented`.
    fn run<I: Io, S, B>(
        self,
        keys: Result<CallKeys<'_>, Error>,
        body: B,
        started: clock::Instant,
    ) -> impl Future<Output = R> + use<'a, '_, R, U, H, I, S, B>
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
        B: Future<Output = R>,
    {
        let Call {
            mut ctx,
            unless,
            sharer,
            behind,
            ..
        } = self;
        let mut keys = Some(ctx.split(keys));
        async move {
            let body = pin!(body);
            // Not `as_ref`: one more function compiled per return type.
            let sharer = match &sharer {
                Some(sharer) => Some(sharer),
                None => None,
            };
            let mut typed = Typed::<R, S, U, H, B>::new(body, &unless, sharer, &behind);
            // SAFETY: this future holds `typed` across the path's await.
            let slot = unsafe { Slot::within(&mut typed) };
            {
                let path = pin!(ctx.run::<I>(slot, &mut keys, started));
                Entered::new(&ctx.span, path).await;
            }
            match typed.result {
                Some(result) => result,
                None => panic!("the call's path leaves a result"),
            }
        }
    }

    /// A copy from the in-process tier as the return value: the clone of
    /// the value the tier shares, or its JSON decoded. The only part of a
    /// local hit compiled per return type.
    #[allow(clippy::manual_map)] // see below
    fn local_value<S>(&self, copied: Copied) -> Option<R>
    where
        S: Shape<R, Stored: Value>,
    {
        // `match`es rather than `Option`'s combinators, each of which
        // would be compiled again per return type.
        match (copied, &self.sharer) {
            (Copied::Value(value), Some(sharer)) => sharer.unwrap(&*value),
            (Copied::Value(_), None) => None,
            (Copied::Json(json), _) => {
                match self
                    .ctx
                    .cache
                    .decode::<S::Stored>("(in-process copy)", &json)
                {
                    Some(stored) => Some(S::restore(stored)),
                    None => None,
                }
            }
        }
    }
}

impl<'a> Ctx<'a> {
    fn new(site: &'static Site, cache: &'a Cache) -> Self {
        let span = tracing::debug_span!(
            "cache",
            function = site.name().unwrap_or_default(),
            key = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        Ctx {
            site,
            cache,
            span,
            tagging: None,
        }
    }

    /// The context of a task's call for `job`, with the job's tags and
    /// the tokens its read found.
    fn for_job(cache: &'a Cache, job: &mut Job) -> Self {
        let mut ctx = Ctx::new(job.site, cache);
        ctx.tagging = job.tags.take().map(|(tags, tokens)| {
            let tagging = Tagging::new(tags);
            *tagging.read() = tokens;
            tagging
        });
        ctx
    }

    /// The call's keys, split for the path: the Redis key and the call's
    /// place in the tier; the call's tags go in the context.
    fn split<'k>(&mut self, keys: Result<CallKeys<'k>, Error>) -> Result<SplitKeys<'k>, Error> {
        let mut keys = keys?;
        self.tagging = keys.take_tags().map(Tagging::new);
        Ok(keys.split())
    }

    /// Runs the call from the store when it can, through the body when it
    /// must, leaves the result in `slot`, and times it from `started`.
    /// Inside, the miss and the refresh are boxed where they start, so that
    /// a Redis hit's box stays small.
    ///
    /// An `async` block, for the reason given at `Call::run`; `keys` (the
    /// Redis key and the call's place in the tier, or why there are none)
    /// are taken at its start.
    #[allow(clippy::manual_async_fn)] // see above
    fn run<'s, 'k, I: Io>(
        &'s self,
        mut slot: Slot<'s>,
        keys: &'s mut Option<Result<SplitKeys<'k>, Error>>,
        started: clock::Instant,
    ) -> impl Future<Output = ()> + use<'s, 'a, 'k, I> {
        async move {
            let slot = &mut slot;
            let keys = keys.take().expect("the keys are taken once");
            'answer: {
                let (key, local) = match keys {
                    Ok(keys) => keys,
                    Err(error) => {
                        self.uncached_key(&error);
                        body(slot).await;
                        break 'answer;
                    }
                };
                self.span.record("key", self.site.policy.shown(&key));
                // The epoch is taken before the read: a fill from a read older than
                // an invalidation is refused (`tier`). A process's first calls
                // wait for the tier to go on first, so that their values are kept.
                let mut filling = local.map(|(tier, local)| Filling {
                    tier,
                    epoch: tier.epoch(&key),
                    local,
                });
                if let Some(filling) = filling
                    .as_mut()
                    .filter(|filling| filling.tier.is_starting())
                {
                    Box::pin(filling.tier.wait_started(I::sleep)).await;
                    filling.epoch = filling.tier.epoch(&key);
                }
                let filling = filling.as_ref();
                // Read first: a hit needs no flight. A miss joins the key's flight;
                // its leader reads again if a flight closed since (`stampede::flight`).
                let flights = self.cache.flights();
                let mark = self
                    .site
                    .policy
                    .coalesce
                    .then(|| flights.mark(I::BLOCKING, &key));
                let (mut lead, mut stale, mut read) = (None, None, true);
                loop {
                    if read {
                        match self.look::<I>(slot, &key, filling, &mut lead).await {
                            Looked::Hit => break 'answer,
                            Looked::Due(current, left) => {
                                // Everyone gets the value at once; a task
                                // refreshes it, when the function can run in one.
                                let job = || self.job(&key, left, filling);
                                if !I::BLOCKING && slot.start_refresh(&job) {
                                    break 'answer;
                                }
                                // Boxed, as the miss below: paths a hit does not
                                // take stay out of the call's future.
                                let refresh = self.refresh::<I>(slot, &key, filling, current, left);
                                Box::pin(refresh).await;
                                break 'answer;
                            }
                            Looked::Miss(found) => stale = found,
                        }
                    }
                    // Called from its own function's body, for the key that body
                    // computes: its flight and lease are this call's own.
                    if lead.is_none() && running_here(flights, I::BLOCKING, &key) {
                        self.uncached_within();
                        body(slot).await;
                        break 'answer;
                    }
                    let (Some(mark), None) = (&mark, &lead) else {
                        break;
                    };
                    match flights.join(I::BLOCKING, &key) {
                        Joined::Lead(joined) => {
                            read = mark.passed();
                            lead = Some(joined);
                        }
                        Joined::Wait(flight) => {
                            if self.take(slot, &key, flight.wait().await) {
                                self.count(Event::Coalesced);
                                break 'answer;
                            }
                            // Nothing to share: lead the next flight (the one that
                            // closed passed the mark: reading again), or wait for
                            // its leader.
                            read = false;
                        }
                    }
                }
                Box::pin(self.miss::<I>(slot, &key, filling, stale, lead)).await;
            }
            self.site.record_latency(started.elapsed());
        }
    }

    /// A waiter's result from the leader's outcome, into `slot`; false when
    /// it must find its own.
    fn take(&self, slot: &mut Slot<'_>, key: &str, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Json(bytes) => slot.decode(self.cache, self.shown(key), &bytes),
            Outcome::Empty => slot.empty(),
            Outcome::Shared(shared) => slot.unshare(&*shared),
            Outcome::Abandoned => false,
        }
    }

    /// Reads `key`: a fresh value is a hit (landing `lead`, if the call
    /// leads a flight), decoded into `slot`, which may be due for an early
    /// refresh; anything else is a miss, with the stale value if the
    /// policy serves one.
    async fn look<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        filling: Option<&Filling<'_>>,
        lead: &mut Option<Lead<'_>>,
    ) -> Looked {
        let policy = &self.site.policy;
        // Redis counts the time left from when it reads: from before the
        // request, the copy's expiry is never later than the entry's. Read
        // only for a call that keeps a copy: nothing else needs it.
        let asked = filling.map(|_| clock::now());
        let Some(found) = self.read::<I>(key, filling.is_some()).await else {
            return Looked::Miss(None);
        };
        let left = match policy.freshness(found.ttl) {
            Freshness::Fresh(left) => left,
            Freshness::Stale => return Looked::Miss(Some(found.bytes)),
            Freshness::Expired => return Looked::Miss(None),
        };
        if !slot.decode(self.cache, self.shown(key), &found.bytes) {
            return Looked::Miss(None);
        }
        self.count(Event::Hit);
        let run_time = self.site.run_time();
        if let Some(left) = left.filter(|left| policy.refresh_due(*left, run_time)) {
            let json = found.bytes.into_shared();
            land(lead.take(), || Outcome::Json(json.clone()));
            return Looked::Due(Bytes::Shared(json), left);
        }
        let mut bytes = found.bytes;
        if let Some(asked) = asked {
            let json = bytes.into_shared();
            let expires = found.ttl.map(|left| tier::after(asked, left));
            self.fill::<I>(slot, filling, key, &json, expires, Source::Read);
            bytes = Bytes::Shared(json);
        }
        land(lead.take(), || Outcome::Json(bytes.into_shared()));
        Looked::Hit
    }

    /// A miss: with `lock`, takes the key's lease or waits for the process
    /// that holds it; runs the function, stores what may be stored, and
    /// lands `lead`. A failure returns `stale` instead, if there is one.
    async fn miss<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        filling: Option<&Filling<'_>>,
        stale: Option<Bytes>,
        lead: Option<Lead<'_>>,
    ) {
        let policy = &self.site.policy;
        self.count(Event::Miss);

        let lease = match policy.lock {
            true => match self.wait_for_lease::<I>(slot, key, &stale).await {
                Err(Served) => {
                    let stale = stale.map(Bytes::into_shared);
                    land(lead, || stale.map_or(Outcome::Abandoned, Outcome::Json));
                    return;
                }
                Ok(Waited::Acquired(lease)) => Some(lease),
                Ok(Waited::Filled(found)) => {
                    // A tagged entry is read again, with its tags' tokens.
                    let found = match &self.tagging {
                        Some(_) => self.read::<I>(key, true).await,
                        None => Some(found),
                    };
                    if let Some(found) = found.filter(|found| self.fresh(slot, key, found)) {
                        land(lead, || Outcome::Json(found.bytes.into_shared()));
                        return;
                    }
                    None
                }
                Ok(Waited::GaveUp) => None,
            },
            false => None,
        };
        let (mut lead, mut lease) = (lead, lease);
        // A stale value at hand and a soft timeout: the function runs in a
        // task of its own, which stores its result; past the timeout, the
        // caller returns the stale value.
        let stale = match (policy.soft_timeout, stale, I::BLOCKING) {
            (Some(wait), Some(bytes), false) => {
                let job = || self.job(key, Duration::ZERO, filling);
                match slot.compute(&job, &mut lease) {
                    true => {
                        return Box::pin(self.soft(slot, key, bytes, wait, lead)).await;
                    }
                    false => Some(bytes),
                }
            }
            (_, stale, _) => stale,
        };
        self.execute::<I>(slot, key, lease.as_ref()).await;
        let class = slot.class();
        if let (Class::Failed, Some(bytes), true) = (class, stale, policy.stale_on_error) {
            if self.serve_stale(slot, key, &bytes, StaleFor::Failure) {
                land(lead, || Outcome::Json(bytes.into_shared()));
                release::<I>(lease).await;
                return;
            }
        }
        // Waiters get the result before the write, which may be slow; the
        // flight stays open until the write is done (see `stampede::flight`).
        let json = match class {
            Class::Value => self.encoded(key, slot.encode(self.cache)),
            Class::Empty | Class::Failed => None,
        };
        publish(&mut lead, || self.outcome(slot, json.clone()));
        if let Some(json) = json.as_ref().filter(|_| !slot.refused()) {
            if let Some(expires) = self.write::<I>(key, json).await {
                self.fill::<I>(slot, filling, key, json, Some(expires), Source::Written);
            }
        }
        drop(lead);
        release::<I>(lease).await;
    }

    /// Takes `key`'s lease or waits for its holder (`lock = true`). With a
    /// stale value at hand and a soft timeout, the wait for another
    /// process's run is bounded too: past the timeout, or when the lease's
    /// own wait is over, the stale value, decoded into `slot` (`Err`).
    async fn wait_for_lease<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        stale: &Option<Bytes>,
    ) -> Result<Waited, Served> {
        let policy = &self.site.policy;
        let fresh = |found: &Found| matches!(policy.freshness(found.ttl), Freshness::Fresh(_));
        let waited = lease::acquire_or_wait::<I>(self.cache, key, &fresh);
        let (Some(wait), Some(stale), false) = (policy.soft_timeout, stale, I::BLOCKING) else {
            return Ok(waited.await);
        };
        // Given up (the lease's own wait is over) or past the soft timeout:
        // another process is still computing, and the stale value serves.
        match tokio::time::timeout(wait, waited).await {
            Ok(Waited::GaveUp) | Err(_) => {
                match self.serve_stale(slot, key, stale, StaleFor::ComputedElsewhere) {
                    true => Err(Served),
                    false => Ok(Waited::GaveUp),
                }
            }
            Ok(waited) => Ok(waited),
        }
    }

    /// `stale`, decoded into `slot`, to return for `why` (logged, counted);
    /// false when it no longer decodes.
    fn serve_stale(&self, slot: &mut Slot<'_>, key: &str, stale: &Bytes, why: StaleFor) -> bool {
        let key = self.shown(key);
        if !slot.decode(self.cache, key, stale) {
            return false;
        }
        match why {
            StaleFor::Failure => {
                tracing::warn!(key, "the function failed; returning the stale value")
            }
            StaleFor::Slow => tracing::debug!(
                key,
                "the function is slower than its soft timeout; returning the stale value"
            ),
            StaleFor::ComputedElsewhere => tracing::debug!(
                key,
                "another task or process computes it; returning the stale value"
            ),
        }
        self.count(Event::Stale);
        true
    }

    /// A miss whose function runs in a task (`soft_timeout`): its result if
    /// it comes within `wait`; else `stale`, while the task goes on and
    /// stores the result. The flight's waiters get what the caller gets.
    async fn soft(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        stale: Bytes,
        wait: Duration,
        lead: Option<Lead<'_>>,
    ) {
        let in_time = tokio::time::timeout(wait, running(slot)).await.ok();
        let why = match in_time {
            Some(Some(())) => match slot.class() {
                Class::Failed if self.site.policy.stale_on_error => Some(StaleFor::Failure),
                _ => None,
            },
            None => Some(StaleFor::Slow),
            // The task ended without a result: another computes the key
            // (or the function panicked).
            Some(None) => Some(StaleFor::ComputedElsewhere),
        };
        // Unless the stale value no longer decodes: then the caller waits
        // for the function after all.
        if why.is_some_and(|why| self.serve_stale(slot, key, &stale, why)) {
            land(lead, || Outcome::Json(stale.into_shared()));
            return;
        }
        let came = match in_time {
            Some(came) => came,
            None => running(slot).await,
        };
        if came.is_none() {
            panic!("the cached function panicked in its task");
        }
        // Stored by the task already: waiters read it (or share it).
        land(lead, || self.outcome(slot, None));
    }

    /// A hit close to expiry (`left` to go), whose value is in `slot`: run
    /// the function now, while the current value (`current`) still serves
    /// everyone else. Leaves the new result; if the function fails, the
    /// current value, which has not expired.
    async fn refresh<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        filling: Option<&Filling<'_>>,
        current: Bytes,
        left: Duration,
    ) {
        let refreshed = self.refresh_once::<I>(slot, key, filling, left).await;
        // Skipped or newer: `slot` holds the current or the newer value.
        if let Refreshed::Ran = refreshed {
            // `current` decoded when it was read, so it decodes again.
            if slot.class() == Class::Failed {
                slot.decode(self.cache, self.shown(key), &current);
            }
        }
    }

    /// An early refresh in a task of its own (see [`Behind`]): the same
    /// refresh, answering nobody. A failure leaves the current value.
    async fn refresh_behind(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        left: Duration,
        local: Option<(TierKey, Epoch)>,
    ) {
        let filling = self.filling(local);
        self.refresh_once::<Async>(slot, key, filling.as_ref(), left)
            .await;
    }

    /// A miss's computation in a task of its own (`soft_timeout`): runs the
    /// function under `lease`, stores what may be stored, and leaves the
    /// result in `slot`; false when another task computes the key already
    /// (one at a time per key in this process: a slow function is not
    /// started again by each call that gets the stale value meanwhile).
    async fn compute_behind(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        local: Option<(TierKey, Epoch)>,
        lease: Option<Lease>,
    ) -> bool {
        let Some(_computing) = self.cache.flights().start_refresh(false, key) else {
            release::<Async>(lease).await;
            return false;
        };
        // A task that ended since this call read the key wrote it: that
        // value, not another run.
        if let Some(found) = self.read::<Async>(key, true).await {
            if self.fresh(slot, key, &found) {
                release::<Async>(lease).await;
                return true;
            }
        }
        let filling = self.filling(local);
        self.execute::<Async>(slot, key, lease.as_ref()).await;
        self.store::<Async>(slot, key, filling.as_ref()).await;
        release::<Async>(lease).await;
        true
    }

    /// A task's place in the in-process tier: the call's, with the epoch
    /// the call took before it read Redis.
    fn filling(&self, local: Option<(TierKey, Epoch)>) -> Option<Filling<'a>> {
        let tier = self.cache.local_tier(&self.site.policy)?;
        let (local, epoch) = local?;
        Some(Filling { tier, epoch, local })
    }

    /// What a task needs to refresh or compute `key` for this call.
    fn job(&self, key: &str, left: Duration, filling: Option<&Filling<'_>>) -> Job {
        Job {
            cache: self.cache.clone(),
            site: self.site,
            key: key.to_owned(),
            left,
            local: filling.map(|filling| (filling.local.clone(), filling.epoch)),
            tags: self
                .tagging
                .as_ref()
                .map(|tagging| (tagging.tags.clone(), tagging.read().clone())),
            span: self.span.clone(),
        }
    }

    /// Runs a refresh once per key in this process (and with `lock`, in
    /// all of them), unless the key was written again since it had `left`
    /// to go (then that value is in `slot`); stores what the function
    /// gives, as a miss does.
    async fn refresh_once<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        filling: Option<&Filling<'_>>,
        left: Duration,
    ) -> Refreshed {
        let Some(_refreshing) = self.cache.flights().start_refresh(I::BLOCKING, key) else {
            return Refreshed::Skipped;
        };
        let lease = match self.site.policy.lock {
            true => match lease::try_acquire::<I>(self.cache, key).await {
                Some(lease) => Some(lease),
                None => return Refreshed::Skipped,
            },
            false => None,
        };
        // A refresh may have ended between this call's read and its claim:
        // a key's time left only grows when it is written again.
        if self.rewritten_since::<I>(slot, key, left).await {
            release::<I>(lease).await;
            return Refreshed::Newer;
        }
        self.count(Event::Refresh);
        self.execute::<I>(slot, key, lease.as_ref()).await;
        // This process's copy, if any, follows the new value.
        let stored = self.store::<I>(slot, key, filling).await;
        // The function no longer gives a value to store: the current one is
        // outdated, as `Entry::put` of such a value evicts.
        if !stored && slot.class() != Class::Failed {
            self.log_error(key, I::exec(self.cache.store(), &Delete(key)).await);
        }
        release::<I>(lease).await;
        Refreshed::Ran
    }

    /// Stores the value the result in `slot` gives to store, and keeps
    /// this process's copy of it; false when it gives none (a failure, an
    /// empty result, a value `unless` refuses).
    async fn store<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        key: &str,
        filling: Option<&Filling<'_>>,
    ) -> bool {
        if slot.class() != Class::Value || slot.refused() {
            return false;
        }
        if let Some(json) = self.encoded(key, slot.encode(self.cache)) {
            if let Some(expires) = self.write::<I>(key, &json).await {
                self.fill::<I>(slot, filling, key, &json, Some(expires), Source::Written);
            }
        }
        true
    }

    /// Whether `key` was written again since it had `left` to go; its value
    /// then is in `slot`.
    async fn rewritten_since<I: Io>(&self, slot: &mut Slot<'_>, key: &str, left: Duration) -> bool {
        let Some(found) = self.read::<I>(key, true).await else {
            return false;
        };
        match self.site.policy.freshness(found.ttl) {
            Freshness::Fresh(Some(now_left)) if now_left > left => {
                slot.decode(self.cache, self.shown(key), &found.bytes)
            }
            _ => false,
        }
    }

    /// Runs the function for `key` (renewing `lease` meanwhile) into
    /// `slot`, and measures it. While its body is polled, the key is marked
    /// as running on this thread: a call of the same key from within waits
    /// on nobody.
    async fn execute<I: Io>(&self, slot: &mut Slot<'_>, key: &str, lease: Option<&Lease>) {
        let body = Running::new(self.cache.flights(), I::BLOCKING, key, body(slot));
        let started = Instant::now();
        match lease {
            Some(lease) => lease.hold::<I, _>(body).await,
            None => body.await,
        }
        self.site.record_run(started.elapsed());
    }

    /// `found` decoded into `slot`, if it is fresh.
    fn fresh(&self, slot: &mut Slot<'_>, key: &str, found: &Found) -> bool {
        match self.site.policy.freshness(found.ttl) {
            Freshness::Fresh(_) => slot.decode(self.cache, self.shown(key), &found.bytes),
            Freshness::Stale | Freshness::Expired => false,
        }
    }

    /// Keeps a copy of what Redis now holds at `key` (the result in `slot`,
    /// whose JSON is `json`, until `expires`, or for the policy's TTL when
    /// Redis did not say) in the in-process tier, if the call has one: the
    /// value itself when it can be cloned, else its JSON. What the call
    /// read is kept at once; what it wrote, once Redis confirms it (see
    /// `confirm`), by an async call outside an envelope of tags (the others
    /// leave it to the next call's read).
    fn fill<I: Io>(
        &self,
        slot: &mut Slot<'_>,
        filling: Option<&Filling<'_>>,
        key: &str,
        json: &Arc<[u8]>,
        expires: Option<clock::Instant>,
        source: Source,
    ) {
        let Some(Filling { tier, epoch, local }) = filling else {
            return;
        };
        let tags = self.tagging.as_ref().map(|tagging| tagging.tags.keys());
        if matches!(source, Source::Written) && (I::BLOCKING || tags.is_some()) {
            return;
        }
        let held = match slot.share() {
            Some(shared) => Copied::Value(shared),
            None => Copied::Json(json.clone()),
        };
        let policy = &self.site.policy;
        let expires = expires.unwrap_or_else(|| tier::after(clock::now(), policy.ttl));
        match source {
            Source::Read => tier.fill(
                *epoch,
                local,
                key,
                held,
                json.len(),
                expires,
                policy.local_for,
                tags,
            ),
            Source::Written => Written {
                cache: self.cache.clone(),
                site: self.site,
                key: key.to_owned(),
                local: local.clone(),
                held,
                json: json.clone(),
                epoch: *epoch,
                expires,
            }
            .keep(),
        }
    }

    /// What the waiters get for the result in `slot`: the whole result
    /// when it can be shared, else the value's JSON (`json`, when it could
    /// be made).
    fn outcome(&self, slot: &mut Slot<'_>, json: Option<Arc<[u8]>>) -> Outcome {
        if let Some(shared) = slot.share() {
            return Outcome::Shared(shared);
        }
        match slot.class() {
            Class::Value => json.map_or(Outcome::Abandoned, Outcome::Json),
            Class::Empty => Outcome::Empty,
            Class::Failed => Outcome::Abandoned,
        }
    }

    /// The stored value at `key`, with its time left when the policy or
    /// `ttl` asks for it.
    async fn read<I: Io>(&self, key: &str, ttl: bool) -> Option<Found> {
        if let Some(tagging) = &self.tagging {
            // Boxed: a path untagged calls never take.
            return Box::pin(self.read_tagged::<I>(tagging, key)).await;
        }
        let read = match ttl || self.site.policy.reads_ttl() {
            true => I::exec(self.cache.store(), &Read(key)).await,
            false => I::exec(self.cache.store(), &Get(key))
                .await
                .map(|bytes| bytes.map(|bytes| Found { bytes, ttl: None })),
        };
        self.log_error(key, read).flatten()
    }

    /// A tagged entry, with its time left, if its tags did not change since
    /// it was stored; the tokens found are kept for this call's write.
    async fn read_tagged<I: Io>(&self, tagging: &Tagging, key: &str) -> Option<Found> {
        let read = tagging.tags.read::<I>(self.cache.store(), key).await;
        let (found, tokens) = self.log_error(key, read)?;
        *tagging.read() = tokens;
        found
    }

    /// Stores `json` with the policy's TTL, if it is within the size limit;
    /// when it was stored, when it expires at the latest (the TTL counted
    /// from before the request).
    async fn write<I: Io>(&self, key: &str, json: &[u8]) -> Option<clock::Instant> {
        if let Err(error) = self.cache.check_size(json) {
            tracing::warn!(key = self.shown(key), %error, "the result is returned but not stored");
            return None;
        }
        let ttl = self.site.policy.write_ttl();
        let asked = clock::now();
        if let Some(tagging) = &self.tagging {
            let read = tagging.read().clone();
            let write = tagging
                .tags
                .write::<I>(self.cache.store(), key, json, ttl, &read);
            if !self.log_error(key, Box::pin(write).await)? {
                tracing::debug!(
                    key = self.shown(key),
                    "a tag was invalidated while the value was computed; returned, not stored"
                );
                return None;
            }
        } else {
            let set = Set {
                key,
                value: json,
                ttl: Some(ttl),
            };
            self.log_error(key, I::exec(self.cache.store(), &set).await)?;
        }
        self.count(Event::Store);
        Some(tier::after(asked, ttl))
    }

    /// The call's fresh copy in the in-process tier at `now`, if it has a
    /// tier and the tier holds one.
    fn local_copy_of(
        &self,
        keys: &Result<CallKeys<'_>, Error>,
        now: clock::Instant,
    ) -> Option<Copied> {
        let (tier, local) = keys.as_ref().ok()?.local()?;
        self.local_copy(tier, local, now)
    }

    /// Counts a call answered from the in-process tier and times it from
    /// `started`.
    fn answered_locally(&self, keys: &Result<CallKeys<'_>, Error>, started: clock::Instant) {
        self.count(Event::LocalHit);
        // The Redis key is not needed for a local hit: made only for a
        // span that records it.
        if let (Ok(keys), false) = (keys, self.span.is_disabled()) {
            self.span
                .record("key", self.site.policy.shown(&keys.redis_key()));
        }
        self.site.record_latency(started.elapsed());
    }

    /// A fresh copy of `local` in `tier` at `now`, unless it is due for a
    /// refresh: then Redis decides.
    fn local_copy(&self, tier: &Tier, local: &[u8], now: clock::Instant) -> Option<Copied> {
        let policy = &self.site.policy;
        let (held, left) = tier.get(local, now)?;
        // Near expiry (XFetch) or past it (stale window): Redis decides.
        let Freshness::Fresh(left) = policy.freshness(Some(left)) else {
            return None;
        };
        if left.is_some_and(|left| policy.refresh_due(left, self.site.run_time())) {
            return None;
        }
        Some(held)
    }

    /// The arguments do not make a key: the call runs uncached.
    fn uncached_key(&self, error: &Error) {
        tracing::warn!(%error, "argument cannot be part of a cache key; running uncached");
        self.count(Event::Uncached);
    }

    /// The call's own key is being computed by its caller: it runs
    /// uncached rather than wait for itself.
    fn uncached_within(&self) {
        tracing::warn!(
            function = self.site.name().unwrap_or_default(),
            "a cached call made while its own key is being computed, by the \
             caller's function; it runs uncached instead of waiting for itself"
        );
        self.count(Event::Uncached);
    }

    /// The JSON of a result, for the store and the waiters; `None` (logged)
    /// when it did not serialize.
    fn encoded(&self, key: &str, json: Result<Vec<u8>, Error>) -> Option<Arc<[u8]>> {
        json.map(Arc::from)
            .map_err(|error| {
                tracing::warn!(key = self.shown(key), %error, "the result cannot be stored; it is returned uncached");
            })
            .ok()
    }

    /// Counts `event`; an outcome also goes in the call's span.
    fn count(&self, event: Event) {
        self.site.count(event);
        if event.is_outcome() {
            self.span.record("outcome", event.name());
        }
    }

    /// What logs show for `key` (see `Policy::shown`).
    fn shown<'k>(&self, key: &'k str) -> &'k str {
        self.site.policy.shown(key)
    }

    /// `result`'s value; a store error is logged and counted as `None`.
    fn log_error<T>(&self, key: &str, result: Result<T, Error>) -> Option<T> {
        result
            .map_err(|error| {
                self.count(Event::Error);
                crate::cache::log_store_failure(self.shown(key), &error);
            })
            .ok()
    }
}

/// The call's path, for each mode, as a function a non-generic item can
/// name: see [`compiled_here`].
fn poll_path<'s, I: Io>(
    ctx: &'s Ctx<'s>,
    slot: Slot<'s>,
    keys: &'s mut Option<Result<SplitKeys<'s>, Error>>,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let path = pin!(ctx.run::<I>(slot, keys, clock::now()));
    pin!(Entered::new(&ctx.span, path)).poll(cx)
}

/// The call's path, polled inside the call's span (entered around each
/// poll, so that a cancelled call's drop runs outside it). Holds the path
/// pinned where the call's future keeps it, so it is `Unpin` itself and
/// needs no projection; generic over the path's future alone, so compiled
/// once per mode, with the path.
struct Entered<'r, F> {
    span: &'r Span,
    path: Pin<&'r mut F>,
}

impl<'r, F: Future> Entered<'r, F> {
    fn new(span: &'r Span, path: Pin<&'r mut F>) -> Self {
        Entered { span, path }
    }
}

impl<F: Future> Future for Entered<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _entered = this.span.enter();
        this.path.as_mut().poll(cx)
    }
}

/// Names the call's path for both modes from a non-generic, exported
/// function, so that this crate compiles it. The path is generic over the
/// mode alone, and debug builds share the generic code an upstream crate
/// compiled (`-Zshare-generics`, on without optimization): each crate
/// with cached functions then links this copy rather than compiling the
/// path again. Never called.
#[doc(hidden)]
pub fn compiled_here() -> [usize; 2] {
    type Path = for<'s, 'x, 'y> fn(
        &'s Ctx<'s>,
        Slot<'s>,
        &'s mut Option<Result<SplitKeys<'s>, Error>>,
        &'x mut Context<'y>,
    ) -> Poll<()>;
    [
        poll_path::<Async> as Path as usize,
        poll_path::<crate::store::io::Blocking> as Path as usize,
    ]
}

/// The function's body, run into `slot` when awaited.
fn body<'r, 's>(slot: &'r mut Slot<'s>) -> impl Future<Output = ()> + Unpin + use<'r, 's> {
    std::future::poll_fn(|cx| slot.poll_body(cx))
}

/// The task `slot`'s computation runs in (see `Held::compute`): `Some`
/// once its result is in `slot`, `None` when it ended without one.
fn running<'r, 's>(
    slot: &'r mut Slot<'s>,
) -> impl Future<Output = Option<()>> + Unpin + use<'r, 's> {
    std::future::poll_fn(|cx| slot.poll_running(cx))
}

async fn release<I: Io>(lease: Option<Lease>) {
    if let Some(lease) = lease {
        lease.release::<I>().await;
    }
}

/// The future an async entry point returns: the answer from the in-process
/// tier, ready, or the rest of the call, boxed. Small either way, so that
/// the caller's own future holds and moves a few bytes more than the value.
pub enum Answer<R, F> {
    /// Answered from the in-process tier (taken by the first poll).
    Ready(Option<R>),
    /// The rest of the call: the store, and the function if it must run.
    Pending(Pin<Box<F>>),
}

// The value is never pinned: it is only moved out, whole.
impl<R, F> Unpin for Answer<R, F> {}

impl<R, F: Future<Output = R>> Future for Answer<R, F> {
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        match self.get_mut() {
            Answer::Ready(value) => Poll::Ready(value.take().expect("polled after completion")),
            Answer::Pending(rest) => rest.as_mut().poll(cx),
        }
    }
}
