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
use tracing::{Instrument, Span};

use crate::call::body::{Bound, Erased};
use crate::call::confirm::Written;
use crate::call::keys::{CallKeys, TierKey};
use crate::call::policy::Freshness;
use crate::call::shape::{Kind, Shape, Value};
use crate::call::share::Sharer;
use crate::call::site::Site;
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
enum Looked<R, T> {
    /// A fresh value: the call's result.
    Hit(R),
    /// A fresh value close to expiry, with its time left: refresh it.
    Due(T, Duration),
    /// Nothing fresh; the stale value when the policy serves one.
    Miss(Option<Bytes>),
}

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
enum Refreshed<R, T> {
    /// Another refresh runs (in this process, or with `lock` in another).
    Skipped,
    /// The key was written again since the call read it: this value.
    Newer(T),
    /// The function ran: its result, stored if it could be.
    Ran(R),
}

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

/// The parts of a call that do not depend on its return type, and what is
/// done with them alone (the store's reads and writes, counts, logs):
/// compiled once per mode, not once per return type as the rest of the
/// call's path is.
struct Ctx<'a> {
    site: &'static Site,
    cache: &'a Cache,
    /// `cache` at debug level: the function, the key, and the outcome
    /// (`local_hit`, `hit`, `miss`, `coalesced`, `uncached`).
    span: Span,
    /// The call's tags, when the function has any (boxed: most have none).
    tagging: Option<Box<Tagging>>,
}

/// What a refresh or a computation in a task of its own needs of the call.
pub(crate) struct Job {
    cache: Cache,
    site: &'static Site,
    key: String,
    /// The time the value had left when the call read it.
    left: Duration,
    /// The call's place in the in-process tier, and where invalidations
    /// stood before it read Redis.
    local: Option<(TierKey, Epoch)>,
    /// The call's tags, with the tokens its read found.
    tags: Option<(Box<Tags>, Tokens)>,
    span: Span,
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
    ) -> Option<tokio::sync::oneshot::Receiver<R>>;
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
    ) -> Option<tokio::sync::oneshot::Receiver<R>> {
        None
    }
}

/// Refreshes and computes in a task: the body made anew from clones of
/// the arguments (`make`), stored as the call would have stored it.
pub(crate) struct Behind<'m, S, U, M> {
    pub(crate) make: &'m M,
    pub(crate) unless: Arc<U>,
    pub(crate) shape: PhantomData<fn() -> S>,
}

impl<S, U, M> Behind<'_, S, U, M> {
    /// Runs `work` with the job, a new body and the condition, in a task on
    /// `runtime`.
    fn spawn<F, W, Fut>(&self, runtime: Handle, job: Job, work: W)
    where
        M: Fn() -> F,
        W: FnOnce(Job, F, Arc<U>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let span = job.span.clone();
        let work = work(job, (self.make)(), Arc::clone(&self.unless));
        runtime.spawn(work.instrument(span));
    }
}

/// A call of its own for a task's `job`, with the job's tags and tokens.
fn call_for<'c, R, U>(cache: &'c Cache, job: &mut Job, unless: U) -> Call<'c, R, U> {
    let mut call = Call::new(job.site, cache, unless, None);
    call.ctx.tagging = job.tags.take().map(|(tags, tokens)| {
        let tagging = Tagging::new(tags);
        *tagging.read() = tokens;
        tagging
    });
    call
}

impl<R, S, U, M, F> Refresher<R> for Behind<'_, S, U, M>
where
    R: Send + 'static,
    S: Shape<R, Stored: Value + Send + Sync> + 'static,
    U: Fn(&S::Stored) -> bool + Send + Sync + 'static,
    M: Fn() -> F,
    F: Future<Output = R> + Send + 'static,
{
    fn start(&self, job: impl FnOnce() -> Job) -> bool {
        let Ok(runtime) = Handle::try_current() else {
            return false;
        };
        self.spawn(runtime, job(), |mut job, body, unless| async move {
            let cache = job.cache.clone();
            let call = call_for(&cache, &mut job, move |value: &S::Stored| unless(value));
            call.refresh_behind::<S>(&job.key, job.left, job.local, body)
                .await;
        });
        true
    }

    fn compute(
        &self,
        job: impl FnOnce() -> Job,
        lease: &mut Option<Lease>,
    ) -> Option<tokio::sync::oneshot::Receiver<R>> {
        let runtime = Handle::try_current().ok()?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let lease = lease.take();
        self.spawn(runtime, job(), |mut job, body, unless| async move {
            let cache = job.cache.clone();
            let call = call_for(&cache, &mut job, move |value: &S::Stored| unless(value));
            let computed = call.compute_behind::<S>(&job.key, job.local, lease, body);
            // The caller may have gone with the stale value: the result is
            // stored all the same. (Computed by another task: the caller
            // hears nothing, and takes the stale value at once.)
            if let Some(result) = computed.await {
                let _ = sender.send(result);
            }
        });
        Some(receiver)
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
    /// `M` gives the rest of the call the auto traits of the body the
    /// caller wrote, when `body` stands for it (see `call::body`).
    pub(crate) fn start<I: Io, S, B, M>(
        self,
        keys: Result<CallKeys<'_>, Error>,
        body: B,
    ) -> Answer<R, impl Future<Output = R> + use<'a, '_, R, U, H, I, S, B, M>>
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
        B: Future<Output = R>,
    {
        // quanta's clock (the TSC): two reads of std's were 15 % of a local
        // hit here. The start also serves as the tier's `now`.
        let started = clock::now();
        let hit = self.local_answer::<S>(&keys, started);
        if hit.is_some() {
            self.ctx.site.record_latency(started.elapsed());
            return Answer::Ready(hit);
        }
        let span = self.ctx.span.clone();
        Answer::Pending(Box::pin(Bound::<_, M>::new(
            self.run::<I, S>(keys, body, started).instrument(span),
        )))
    }

    /// The answer from the in-process tier, if the call has one and it
    /// holds a fresh copy at `now`.
    fn local_answer<S>(&self, keys: &Result<CallKeys<'_>, Error>, now: clock::Instant) -> Option<R>
    where
        S: Shape<R, Stored: Value>,
    {
        let keys = keys.as_ref().ok()?;
        let (tier, local) = keys.local()?;
        // The value is handed on as the `Option` it was made in, never
        // unwrapped and wrapped again: each move of a value just written
        // stalls on store forwarding.
        let hit = self.local_hit::<S>(tier, local, now);
        // The Redis key is not needed for a local hit: made only for a
        // span that records it.
        if hit.is_some() && !self.ctx.span.is_disabled() {
            self.ctx
                .span
                .record("key", self.ctx.site.policy.shown(&keys.redis_key()));
        }
        hit
    }

    /// Counts `event`; an outcome also goes in the call's span.
    fn count(&self, event: Event) {
        self.ctx.count(event);
    }

    /// Runs the call from the store when it can, through `body` when it
    /// must, and times it from `started`.
    ///
    /// The call is owned here, and its keys and body are taken here alone:
    /// a future's arguments keep their room in it for its whole life, so a
    /// wrapper that took them and passed them on held them twice (1,128
    /// bytes with the benchmark's body, past glibc's per-thread cache of
    /// 1,032: ~500 instructions of slow-path `malloc` per Redis hit).
    /// Inside, the store's commands, the miss and the refresh are boxed
    /// where they start, so that a Redis hit's box stays small.
    async fn run<I: Io, S>(
        mut self,
        mut keys: Result<CallKeys<'_>, Error>,
        body: impl Future<Output = R>,
        started: clock::Instant,
    ) -> R
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        if let Ok(keys) = &mut keys {
            self.ctx.tagging = keys.take_tags().map(Tagging::new);
        }
        let result = 'answer: {
            let (key, local) = match keys {
                Ok(keys) => keys.split(),
                Err(error) => {
                    self.ctx.uncached_key(&error);
                    break 'answer body.await;
                }
            };
            self.ctx
                .span
                .record("key", self.ctx.site.policy.shown(&key));
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
            let flights = self.ctx.cache.flights();
            let mark = self
                .ctx
                .site
                .policy
                .coalesce
                .then(|| flights.mark(I::BLOCKING, &key));
            let (mut lead, mut stale, mut read) = (None, None, true);
            loop {
                if read {
                    match self.look::<I, S>(&key, filling, &mut lead).await {
                        Looked::Hit(result) => break 'answer result,
                        Looked::Due(value, left) => {
                            // Everyone gets the value at once; a task
                            // refreshes it, when the function can run in one.
                            let job = || self.job(&key, left, filling);
                            if !I::BLOCKING && self.behind.start(job) {
                                break 'answer S::restore(value);
                            }
                            // Boxed, as the miss below: paths a hit does not
                            // take stay out of the call's future.
                            let refresh = self.refresh::<I, S>(&key, filling, value, left, body);
                            break 'answer Box::pin(refresh).await;
                        }
                        Looked::Miss(found) => stale = found,
                    }
                }
                // Called from its own function's body, for the key that body
                // computes: its flight and lease are this call's own.
                if lead.is_none() && running_here(flights, I::BLOCKING, &key) {
                    self.ctx.uncached_within();
                    break 'answer body.await;
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
                        if let Some(result) = self.take::<S>(&key, flight.wait().await) {
                            self.count(Event::Coalesced);
                            break 'answer result;
                        }
                        // Nothing to share: lead the next flight (the one that
                        // closed passed the mark: reading again), or wait for
                        // its leader.
                        read = false;
                    }
                }
            }
            Box::pin(self.miss::<I, S>(&key, filling, stale, lead, body)).await
        };
        self.ctx.site.record_latency(started.elapsed());
        result
    }

    /// A waiter's result from the leader's outcome; `None` when it must
    /// find its own.
    fn take<S>(&self, key: &str, outcome: Outcome) -> Option<R>
    where
        S: Shape<R, Stored: Value>,
    {
        match outcome {
            Outcome::Json(bytes) => self
                .ctx
                .cache
                .decode::<S::Stored>(self.shown(key), &bytes)
                .map(S::restore),
            Outcome::Empty => S::empty(),
            Outcome::Shared(shared) => self.sharer.as_ref()?.unwrap(&*shared),
            Outcome::Abandoned => None,
        }
    }

    /// A fresh copy of `key` in the in-process tier, as the return value.
    fn local_hit<S>(&self, tier: &Tier, local: &[u8], now: clock::Instant) -> Option<R>
    where
        S: Shape<R, Stored: Value>,
    {
        let policy = &self.ctx.site.policy;
        let (held, left) = tier.get(local, now)?;
        // Near expiry (XFetch) or past it (stale window): Redis decides.
        let Freshness::Fresh(left) = policy.freshness(Some(left)) else {
            return None;
        };
        if left.is_some_and(|left| policy.refresh_due(left, self.ctx.site.run_time())) {
            return None;
        }
        let hit = match held {
            Copied::Value(value) => self.sharer.as_ref()?.unwrap(&*value),
            Copied::Json(json) => self
                .ctx
                .cache
                .decode::<S::Stored>("(in-process copy)", &json)
                .map(S::restore),
        };
        if hit.is_some() {
            self.count(Event::LocalHit);
        }
        hit
    }

    /// Reads `key`: a fresh value is a hit (landing `lead`, if the call
    /// leads a flight), which may be due for an early refresh; anything
    /// else is a miss, with the stale value if the policy serves one.
    async fn look<I: Io, S>(
        &self,
        key: &str,
        filling: Option<&Filling<'_>>,
        lead: &mut Option<Lead<'_>>,
    ) -> Looked<R, S::Stored>
    where
        S: Shape<R, Stored: Value>,
    {
        let policy = &self.ctx.site.policy;
        // Redis counts the time left from when it reads: from before the
        // request, the copy's expiry is never later than the entry's.
        let asked = clock::now();
        let Some(found) = self.ctx.read::<I>(key, filling.is_some()).await else {
            return Looked::Miss(None);
        };
        let left = match policy.freshness(found.ttl) {
            Freshness::Fresh(left) => left,
            Freshness::Stale => return Looked::Miss(Some(found.bytes)),
            Freshness::Expired => return Looked::Miss(None),
        };
        let Some(value) = self
            .ctx
            .cache
            .decode::<S::Stored>(self.shown(key), &found.bytes)
        else {
            return Looked::Miss(None);
        };
        self.count(Event::Hit);
        let run_time = self.ctx.site.run_time();
        if let Some(left) = left.filter(|left| policy.refresh_due(*left, run_time)) {
            land(lead.take(), || Outcome::Json(found.bytes.into_shared()));
            return Looked::Due(value, left);
        }
        let result = S::restore(value);
        let mut bytes = found.bytes;
        if filling.is_some() {
            let json = bytes.into_shared();
            let expires = found.ttl.map(|left| tier::after(asked, left));
            self.fill::<I>(filling, key, &result, &json, expires, Source::Read);
            bytes = Bytes::Shared(json);
        }
        land(lead.take(), || Outcome::Json(bytes.into_shared()));
        Looked::Hit(result)
    }

    /// A miss: with `lock`, takes the key's lease or waits for the process
    /// that holds it; runs the function, stores what may be stored, and
    /// lands `lead`. A failure returns `stale` instead, if there is one.
    async fn miss<I: Io, S>(
        &self,
        key: &str,
        filling: Option<&Filling<'_>>,
        stale: Option<Bytes>,
        lead: Option<Lead<'_>>,
        body: impl Future<Output = R>,
    ) -> R
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        let policy = &self.ctx.site.policy;
        self.count(Event::Miss);

        let lease = match policy.lock {
            true => match self.wait_for_lease::<I, S>(key, &stale).await {
                Err(value) => {
                    let stale = stale.map(Bytes::into_shared);
                    land(lead, || stale.map_or(Outcome::Abandoned, Outcome::Json));
                    return S::restore(value);
                }
                Ok(Waited::Acquired(lease)) => Some(lease),
                Ok(Waited::Filled(found)) => {
                    // A tagged entry is read again, with its tags' tokens.
                    let found = match &self.ctx.tagging {
                        Some(_) => self.ctx.read::<I>(key, true).await,
                        None => Some(found),
                    };
                    let fresh =
                        found.and_then(|found| Some((self.fresh::<S>(key, &found)?, found)));
                    if let Some((value, found)) = fresh {
                        land(lead, || Outcome::Json(found.bytes.into_shared()));
                        return S::restore(value);
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
                match self.behind.compute(job, &mut lease) {
                    Some(running) => {
                        let soft = self.soft::<S>(key, bytes, running, wait, lead);
                        return Box::pin(soft).await;
                    }
                    None => Some(bytes),
                }
            }
            (_, stale, _) => stale,
        };
        let result = self.execute::<I>(key, lease.as_ref(), body).await;
        let kind = S::classify(&result);
        if let (Kind::Failed, Some(bytes), true) = (&kind, stale, policy.stale_on_error) {
            if let Some(value) = self.serve_stale::<S>(key, &bytes, StaleFor::Failure) {
                land(lead, || Outcome::Json(bytes.into_shared()));
                release::<I>(lease).await;
                return S::restore(value);
            }
        }
        // Waiters get the result before the write, which may be slow; the
        // flight stays open until the write is done (see `stampede::flight`).
        let json = match kind {
            Kind::Value(value) => self.encode(key, value),
            Kind::Empty | Kind::Failed => None,
        };
        publish(&mut lead, || self.outcome::<S>(&result, json.clone()));
        if let (Kind::Value(value), Some(json)) = (kind, &json) {
            if !(self.unless)(value) {
                if let Some(expires) = self.ctx.write::<I>(key, json).await {
                    self.fill::<I>(filling, key, &result, json, Some(expires), Source::Written);
                }
            }
        }
        drop(lead);
        release::<I>(lease).await;
        result
    }

    /// Takes `key`'s lease or waits for its holder (`lock = true`). With a
    /// stale value at hand and a soft timeout, the wait for another
    /// process's run is bounded too: past the timeout, or when the lease's
    /// own wait is over, the stale value (`Err`), decoded.
    async fn wait_for_lease<I: Io, S>(
        &self,
        key: &str,
        stale: &Option<Bytes>,
    ) -> Result<Waited, S::Stored>
    where
        S: Shape<R, Stored: Value>,
    {
        let policy = &self.ctx.site.policy;
        let fresh = |found: &Found| matches!(policy.freshness(found.ttl), Freshness::Fresh(_));
        let waited = lease::acquire_or_wait::<I>(self.ctx.cache, key, &fresh);
        let (Some(wait), Some(stale), false) = (policy.soft_timeout, stale, I::BLOCKING) else {
            return Ok(waited.await);
        };
        // Given up (the lease's own wait is over) or past the soft timeout:
        // another process is still computing, and the stale value serves.
        match tokio::time::timeout(wait, waited).await {
            Ok(Waited::GaveUp) | Err(_) => self
                .serve_stale::<S>(key, stale, StaleFor::ComputedElsewhere)
                .map_or(Ok(Waited::GaveUp), Err),
            Ok(waited) => Ok(waited),
        }
    }

    /// `stale`, decoded, to return for `why` (logged, counted); `None` when
    /// it no longer decodes.
    fn serve_stale<S>(&self, key: &str, stale: &Bytes, why: StaleFor) -> Option<S::Stored>
    where
        S: Shape<R, Stored: Value>,
    {
        let value = self.ctx.cache.decode::<S::Stored>(self.shown(key), stale)?;
        self.ctx.serving_stale(key, why);
        Some(value)
    }

    /// A miss whose function runs in a task (`soft_timeout`): its result if
    /// it comes within `wait`; else `stale`, while the task goes on and
    /// stores the result. The flight's waiters get what the caller gets.
    async fn soft<S>(
        &self,
        key: &str,
        stale: Bytes,
        mut running: tokio::sync::oneshot::Receiver<R>,
        wait: Duration,
        lead: Option<Lead<'_>>,
    ) -> R
    where
        S: Shape<R, Stored: Value>,
    {
        let in_time = tokio::time::timeout(wait, &mut running).await.ok();
        let why = match &in_time {
            Some(Ok(result)) => match S::classify(result) {
                Kind::Failed if self.ctx.site.policy.stale_on_error => Some(StaleFor::Failure),
                _ => None,
            },
            None => Some(StaleFor::Slow),
            // The task ended without a result: another computes the key
            // (or the function panicked).
            Some(Err(_)) => Some(StaleFor::ComputedElsewhere),
        };
        // Unless the stale value no longer decodes: then the caller waits
        // for the function after all.
        if let Some(value) = why.and_then(|why| self.serve_stale::<S>(key, &stale, why)) {
            land(lead, || Outcome::Json(stale.into_shared()));
            return S::restore(value);
        }
        let result = match in_time {
            Some(Ok(result)) => Some(result),
            None => running.await.ok(),
            Some(Err(_)) => None,
        };
        let result = result.unwrap_or_else(|| panic!("the cached function panicked in its task"));
        // Stored by the task already: waiters read it (or share it).
        land(lead, || self.outcome::<S>(&result, None));
        result
    }

    /// A hit close to expiry (`left` to go): run the function now, while the
    /// current value still serves everyone else. Returns the new result; if
    /// the function fails, the current value, which has not expired.
    async fn refresh<I: Io, S>(
        &self,
        key: &str,
        filling: Option<&Filling<'_>>,
        current: S::Stored,
        left: Duration,
        body: impl Future<Output = R>,
    ) -> R
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        match self.refresh_once::<I, S>(key, filling, left, body).await {
            Refreshed::Skipped => S::restore(current),
            Refreshed::Newer(newer) => S::restore(newer),
            Refreshed::Ran(result) => match S::classify(&result) {
                Kind::Failed => S::restore(current),
                Kind::Value(_) | Kind::Empty => result,
            },
        }
    }

    /// An early refresh in a task of its own (see [`Behind`]): the same
    /// refresh, answering nobody. A failure leaves the current value.
    async fn refresh_behind<S>(
        &self,
        key: &str,
        left: Duration,
        local: Option<(TierKey, Epoch)>,
        body: impl Future<Output = R>,
    ) where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        let filling = self.filling(local);
        let refreshed = self.refresh_once::<Async, S>(key, filling.as_ref(), left, body);
        drop(refreshed.await);
    }

    /// A miss's computation in a task of its own (`soft_timeout`): runs the
    /// function under `lease`, stores what may be stored, and returns the
    /// result; `None` when another task computes the key already (one at a
    /// time per key in this process: a slow function is not started again
    /// by each call that gets the stale value meanwhile).
    async fn compute_behind<S>(
        &self,
        key: &str,
        local: Option<(TierKey, Epoch)>,
        lease: Option<Lease>,
        body: impl Future<Output = R>,
    ) -> Option<R>
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        let Some(_computing) = self.ctx.cache.flights().start_refresh(false, key) else {
            release::<Async>(lease).await;
            return None;
        };
        // A task that ended since this call read the key wrote it: that
        // value, not another run.
        if let Some(found) = self.ctx.read::<Async>(key, true).await {
            if let Some(value) = self.fresh::<S>(key, &found) {
                release::<Async>(lease).await;
                return Some(S::restore(value));
            }
        }
        let filling = self.filling(local);
        let result = self.execute::<Async>(key, lease.as_ref(), body).await;
        let (result, _) = self.store::<Async, S>(key, filling.as_ref(), result).await;
        release::<Async>(lease).await;
        Some(result)
    }

    /// A task's place in the in-process tier: the call's, with the epoch
    /// the call took before it read Redis.
    fn filling(&self, local: Option<(TierKey, Epoch)>) -> Option<Filling<'a>> {
        let tier = self.ctx.cache.local_tier(&self.ctx.site.policy)?;
        let (local, epoch) = local?;
        Some(Filling { tier, epoch, local })
    }

    /// What a task needs to refresh or compute `key` for this call.
    fn job(&self, key: &str, left: Duration, filling: Option<&Filling<'_>>) -> Job {
        Job {
            cache: self.ctx.cache.clone(),
            site: self.ctx.site,
            key: key.to_owned(),
            left,
            local: filling.map(|filling| (filling.local.clone(), filling.epoch)),
            tags: self
                .ctx
                .tagging
                .as_ref()
                .map(|tagging| (tagging.tags.clone(), tagging.read().clone())),
            span: self.ctx.span.clone(),
        }
    }

    /// Runs a refresh once per key in this process (and with `lock`, in
    /// all of them), unless the key was written again since it had `left`
    /// to go; stores what the function gives, as a miss does.
    async fn refresh_once<I: Io, S>(
        &self,
        key: &str,
        filling: Option<&Filling<'_>>,
        left: Duration,
        body: impl Future<Output = R>,
    ) -> Refreshed<R, S::Stored>
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        let Some(_refreshing) = self.ctx.cache.flights().start_refresh(I::BLOCKING, key) else {
            return Refreshed::Skipped;
        };
        let lease = match self.ctx.site.policy.lock {
            true => match lease::try_acquire::<I>(self.ctx.cache, key).await {
                Some(lease) => Some(lease),
                None => return Refreshed::Skipped,
            },
            false => None,
        };
        // A refresh may have ended between this call's read and its claim:
        // a key's time left only grows when it is written again.
        if let Some(newer) = self.rewritten_since::<I, S>(key, left).await {
            release::<I>(lease).await;
            return Refreshed::Newer(newer);
        }
        self.count(Event::Refresh);
        let result = self.execute::<I>(key, lease.as_ref(), body).await;
        // This process's copy, if any, follows the new value.
        let (result, stored) = self.store::<I, S>(key, filling, result).await;
        // The function no longer gives a value to store: the current one is
        // outdated, as `Entry::put` of such a value evicts.
        if !stored && !matches!(S::classify(&result), Kind::Failed) {
            self.log_error(key, I::exec(self.ctx.cache.store(), &Delete(key)).await);
        }
        release::<I>(lease).await;
        Refreshed::Ran(result)
    }

    /// Stores the value `result` gives to store, and keeps this process's
    /// copy of it; with `result`, false when it gives none (a failure, an
    /// empty result, a value `unless` refuses). Takes `result` by value: a
    /// borrow of it held across the write would make the future `Send` only
    /// for `Sync` results.
    async fn store<I: Io, S>(
        &self,
        key: &str,
        filling: Option<&Filling<'_>>,
        result: R,
    ) -> (R, bool)
    where
        S: Shape<R, Stored: Value>,
        U: Fn(&S::Stored) -> bool,
    {
        let json = match S::classify(&result) {
            Kind::Value(value) if !(self.unless)(value) => self.encode(key, value),
            Kind::Value(_) | Kind::Empty | Kind::Failed => return (result, false),
        };
        if let Some(json) = json {
            if let Some(expires) = self.ctx.write::<I>(key, &json).await {
                self.fill::<I>(filling, key, &result, &json, Some(expires), Source::Written);
            }
        }
        (result, true)
    }

    /// The value at `key` if it was written again since it had `left` to go.
    async fn rewritten_since<I: Io, S>(&self, key: &str, left: Duration) -> Option<S::Stored>
    where
        S: Shape<R, Stored: Value>,
    {
        let found = self.ctx.read::<I>(key, true).await?;
        match self.ctx.site.policy.freshness(found.ttl) {
            Freshness::Fresh(Some(now_left)) if now_left > left => self
                .ctx
                .cache
                .decode::<S::Stored>(self.shown(key), &found.bytes),
            _ => None,
        }
    }

    /// Runs the function for `key` (renewing `lease` meanwhile) and
    /// measures it. While its body is polled, the key is marked as running
    /// on this thread: a call of the same key from within waits on nobody.
    async fn execute<I: Io>(
        &self,
        key: &str,
        lease: Option<&Lease>,
        body: impl Future<Output = R>,
    ) -> R {
        // The result goes to a slot: what runs and renews the body sees a
        // future of `()`, compiled once per mode, not once per return type.
        let mut result = None;
        {
            let body = std::pin::pin!(async { result = Some(body.await) });
            self.ctx
                .execute::<I>(key, lease, Erased::within(body))
                .await;
        }
        result.expect("the body ran to its end")
    }

    /// `found` decoded, if it is fresh.
    fn fresh<S>(&self, key: &str, found: &Found) -> Option<S::Stored>
    where
        S: Shape<R, Stored: Value>,
    {
        match self.ctx.site.policy.freshness(found.ttl) {
            Freshness::Fresh(_) => self
                .ctx
                .cache
                .decode::<S::Stored>(self.shown(key), &found.bytes),
            Freshness::Stale | Freshness::Expired => None,
        }
    }

    /// The JSON of `value`, for the store and the waiters; `None` (logged)
    /// when it does not serialize.
    fn encode<T: Value>(&self, key: &str, value: &T) -> Option<Arc<[u8]>> {
        self.ctx.encoded(key, self.ctx.cache.encode(value))
    }

    /// Keeps a copy of what Redis now holds at `key` (`result`, whose JSON
    /// is `json`, until `expires`, or for the policy's TTL when Redis did not
    /// say) in the in-process tier, if the call has one: the value itself
    /// when it can be cloned, else its JSON. What the call read is kept at
    /// once; what it wrote, once Redis confirms it (see `confirm`), by an
    /// async call outside an envelope of tags (the others leave it to the
    /// next call's read).
    fn fill<I: Io>(
        &self,
        filling: Option<&Filling<'_>>,
        key: &str,
        result: &R,
        json: &Arc<[u8]>,
        expires: Option<clock::Instant>,
        source: Source,
    ) {
        let Some(Filling { tier, epoch, local }) = filling else {
            return;
        };
        let tags = self.ctx.tagging.as_ref().map(|tagging| tagging.tags.keys());
        if matches!(source, Source::Written) && (I::BLOCKING || tags.is_some()) {
            return;
        }
        let held = match &self.sharer {
            Some(sharer) => Copied::Value(sharer.wrap(result)),
            None => Copied::Json(json.clone()),
        };
        let policy = &self.ctx.site.policy;
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
                cache: self.ctx.cache.clone(),
                site: self.ctx.site,
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

    /// What the waiters get for `result`: the whole result when it can be
    /// shared, else the value's JSON (`json`, when it could be made).
    fn outcome<S>(&self, result: &R, json: Option<Arc<[u8]>>) -> Outcome
    where
        S: Shape<R, Stored: Value>,
    {
        if let Some(sharer) = &self.sharer {
            return Outcome::Shared(sharer.wrap(result));
        }
        match S::classify(result) {
            Kind::Value(_) => json.map_or(Outcome::Abandoned, Outcome::Json),
            Kind::Empty => Outcome::Empty,
            Kind::Failed => Outcome::Abandoned,
        }
    }

    /// What logs show for `key` (see `Policy::shown`).
    fn shown<'k>(&self, key: &'k str) -> &'k str {
        self.ctx.shown(key)
    }

    /// `result`'s value; a store error is logged and counted as `None`.
    fn log_error<T>(&self, key: &str, result: Result<T, Error>) -> Option<T> {
        self.ctx.log_error(key, result)
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

    /// The stale value at `key` is returned, for `why` (logged, counted).
    fn serving_stale(&self, key: &str, why: StaleFor) {
        let key = self.shown(key);
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

    /// Runs `body` for `key` (see `Call::execute`).
    async fn execute<I: Io>(&self, key: &str, lease: Option<&Lease>, body: Erased<'_, ()>) {
        let body = pin!(body);
        let body = Running::new(self.cache.flights(), I::BLOCKING, key, body);
        let started = Instant::now();
        match lease {
            Some(lease) => lease.hold::<I, _>(body).await,
            None => body.await,
        }
        self.site.record_run(started.elapsed());
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
