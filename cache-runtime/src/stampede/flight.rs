//! Request coalescing in one process ("single flight"): concurrent calls of
//! one key that miss share one run of the function.
//!
//! A call reads the store first, on its own (concurrent reads share round
//! trips in the store instead: `store::redis::reads`). Only on a miss does it
//! join the key's flight. The first caller of a key leads: it runs the
//! function. Callers that arrive in the meantime wait for its [`Outcome`]
//! instead of running the function themselves. The leader publishes the
//! outcome as soon as it has it (its waiters do not wait for the store
//! write), and closes the flight only after the write: callers that come
//! during the write take the published outcome, and callers that come after
//! the close find the value in the store.
//!
//! One window is left: a caller whose read missed just before a leader's
//! write, and who joins just after that leader closed its flight. Each
//! close therefore bumps a counter of the key's shard ([`Mark`]); a new
//! leader whose read is older than a close reads again before it runs the
//! function. No window in which a second run can start.
//!
//! A leader dropped before landing (its call was cancelled, or the function
//! panicked) abandons the flight: its waiters wake, and one of them leads
//! the next flight. Nobody waits on a call that will not finish.
//!
//! Nor on itself: a function whose body calls the same key again (itself,
//! or another function on the same template), while its caller leads that
//! key's flight or holds its lease, would wait for its own result forever.
//! While a call's function runs, each poll of its body marks the key as
//! running on this thread ([`Running`]); a call that misses a key so marked
//! runs its function uncached instead of joining ([`running_here`]).

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use crate::sync::lock;
use tokio::sync::Notify;

/// The flights of one cache. Sync and async callers have separate maps: a
/// thread blocked in a sync function must never wait for a task that may
/// need that very thread to run.
#[derive(Default)]
pub(crate) struct Flights {
    async_calls: Map,
    blocking_calls: Map,
}

#[derive(Default)]
struct Map {
    flights: Mutex<HashMap<Arc<str>, Arc<Flight>>>,
    /// Flights closed so far, by shard of their key (see [`Mark`]).
    closed: [AtomicU64; SHARDS],
    /// Keys with an early refresh running: one at a time per key.
    refreshing: Mutex<HashSet<Arc<str>>>,
}

/// Shards of the closed-flight counters: a close makes only the keys of
/// its shard read again.
const SHARDS: usize = 32;

/// The shard of `key`, from its last bytes (a cache key ends in hex digits
/// of its arguments' digest).
fn shard(key: &str) -> usize {
    let tail = key.as_bytes().iter().rev().take(8);
    tail.fold(0, |hash: usize, byte| {
        hash.wrapping_mul(31) ^ usize::from(*byte)
    }) % SHARDS
}

/// Where the flights of a key's shard stood when a call read the store.
pub(crate) struct Mark<'a> {
    closed: &'a AtomicU64,
    seen: u64,
}

impl Mark<'_> {
    /// Whether a flight of the shard closed since: then the read may be
    /// older than that flight's write.
    pub(crate) fn passed(&self) -> bool {
        self.closed.load(Ordering::Acquire) != self.seen
    }
}

/// One key's shared call.
pub(crate) struct Flight {
    outcome: OnceLock<Outcome>,
    /// Counted under the map's lock, so that the leader, which removes the
    /// flight under that lock, knows the final number.
    waiters: AtomicUsize,
    landed: Notify,
}

/// What a flight's waiters get.
#[derive(Clone)]
pub(crate) enum Outcome {
    /// The JSON of the value, for each waiter to decode as from the store.
    Json(Arc<[u8]>),
    /// The result is the empty one (`None`, `Ok(None)`).
    Empty,
    /// The leader's whole result, errors included, for return types that
    /// are `Clone + Send + Sync` (see `call::Sharing`).
    Shared(Arc<dyn Any + Send + Sync>),
    /// Nothing to share: an error that is not `Clone`, a panic, a cancelled
    /// call. A waiter leads the next flight.
    Abandoned,
}

pub(crate) enum Joined<'a> {
    Lead(Lead<'a>),
    Wait(Arc<Flight>),
}

impl Flights {
    fn map(&self, blocking: bool) -> &Map {
        match blocking {
            true => &self.blocking_calls,
            false => &self.async_calls,
        }
    }

    /// Taken before a read: tells the leader it becomes later whether the
    /// read may have missed a flight's write.
    pub(crate) fn mark(&self, blocking: bool, key: &str) -> Mark<'_> {
        let closed = &self.map(blocking).closed[shard(key)];
        Mark {
            closed,
            seen: closed.load(Ordering::Acquire),
        }
    }

    /// Joins the flight of `key`, or starts one and leads it.
    pub(crate) fn join(&self, blocking: bool, key: &str) -> Joined<'_> {
        let map = self.map(blocking);
        let mut flights = lock(&map.flights);
        if let Some(flight) = flights.get(key) {
            flight.waiters.fetch_add(1, Ordering::Relaxed);
            return Joined::Wait(flight.clone());
        }
        let key: Arc<str> = key.into();
        let flight = Arc::new(Flight {
            outcome: OnceLock::new(),
            waiters: AtomicUsize::new(0),
            landed: Notify::new(),
        });
        flights.insert(key.clone(), flight.clone());
        Joined::Lead(Lead {
            map,
            key,
            flight,
            open: true,
            published: false,
        })
    }

    /// Marks `key` as being refreshed; `None` when a refresh already runs.
    pub(crate) fn start_refresh(&self, blocking: bool, key: &str) -> Option<Refreshing<'_>> {
        let map = self.map(blocking);
        let key: Arc<str> = key.into();
        let started = lock(&map.refreshing).insert(key.clone());
        // Made only when started: dropping a `Refreshing` ends the refresh.
        started.then(|| Refreshing { map, key })
    }
}

impl Flight {
    /// The outcome, once the leader lands or abandons the flight.
    pub(crate) async fn wait(&self) -> Outcome {
        loop {
            // Registered before the check, so a landing in between still
            // wakes this waiter.
            let landed = self.landed.notified();
            let mut landed = std::pin::pin!(landed);
            landed.as_mut().enable();
            if let Some(outcome) = self.outcome.get() {
                return outcome.clone();
            }
            landed.await;
        }
    }
}

/// The leader's hold on a flight. Dropping it closes the flight; if no
/// outcome was published, its waiters are told the flight was abandoned.
pub(crate) struct Lead<'a> {
    map: &'a Map,
    key: Arc<str>,
    flight: Arc<Flight>,
    open: bool,
    published: bool,
}

impl Lead<'_> {
    /// Gives the waiters their outcome now, made only if there are any; the
    /// flight stays open until dropped. (Callers who join after a publish
    /// made for nobody find the flight abandoned when it closes, and read
    /// the store.)
    pub(crate) fn publish(&mut self, outcome: impl FnOnce() -> Outcome) {
        if self.awaited() {
            self.set(outcome());
        }
    }

    /// Whether waiters have yet to be given an outcome. Apart from
    /// `publish`, which is compiled once per outcome's closure.
    fn awaited(&self) -> bool {
        !self.published && self.flight.waiters.load(Ordering::Relaxed) > 0
    }

    /// Closes the flight, then gives its waiters (now a final number)
    /// `outcome()`: for a result that is not being written anywhere.
    pub(crate) fn land(mut self, outcome: impl FnOnce() -> Outcome) {
        self.close();
        self.publish(outcome);
    }

    /// New callers start their own flight from now on.
    fn close(&mut self) {
        if self.open {
            self.open = false;
            let mut flights = lock(&self.map.flights);
            flights.remove(&self.key);
            // Under the lock: a caller who finds no flight sees the count.
            self.map.closed[shard(&self.key)].fetch_add(1, Ordering::Release);
        }
    }

    fn set(&mut self, outcome: Outcome) {
        self.published = true;
        let _ = self.flight.outcome.set(outcome);
        self.flight.landed.notify_waiters();
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        self.close();
        if self.awaited() {
            self.set(Outcome::Abandoned);
        }
    }
}

/// An early refresh in progress; ends when dropped.
pub(crate) struct Refreshing<'a> {
    map: &'a Map,
    key: Arc<str>,
}

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        lock(&self.map.refreshing).remove(&self.key);
    }
}

/// Lands `lead`, when the call has one.
pub(crate) fn land(lead: Option<Lead<'_>>, outcome: impl FnOnce() -> Outcome) {
    if let Some(lead) = lead {
        lead.land(outcome);
    }
}

/// Publishes to `lead`'s waiters, when the call has a lead.
pub(crate) fn publish(lead: &mut Option<Lead<'_>>, outcome: impl FnOnce() -> Outcome) {
    if let Some(lead) = lead {
        lead.publish(outcome);
    }
}

thread_local! {
    /// The keys whose functions are being polled on this thread, outermost
    /// first, each as [`running_id`].
    static RUNNING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// One running key of one cache's sync or async calls. Hashed: a collision
/// only runs an inner call uncached.
fn running_id(flights: &Flights, blocking: bool, key: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (flights as *const Flights as usize, blocking, key).hash(&mut hasher);
    hasher.finish()
}

/// Whether a call of `key` is an ancestor of this code, running its
/// function: then waiting for that key's flight or lease is waiting for
/// oneself.
pub(crate) fn running_here(flights: &Flights, blocking: bool, key: &str) -> bool {
    let id = running_id(flights, blocking, key);
    RUNNING.with(|running| running.borrow().contains(&id))
}

/// A cached function's body, marking its key as running on the thread
/// that polls it, for the length of each poll.
pub(crate) struct Running<F> {
    id: u64,
    body: F,
}

impl<F> Running<F> {
    pub(crate) fn new(flights: &Flights, blocking: bool, key: &str, body: F) -> Self {
        Running {
            id: running_id(flights, blocking, key),
            body,
        }
    }
}

impl<F: Future + Unpin> Future for Running<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Unmarks the key when the poll ends, by return or by panic.
        struct Unmark;
        impl Drop for Unmark {
            fn drop(&mut self) {
                RUNNING.with(|running| running.borrow_mut().pop());
            }
        }
        RUNNING.with(|running| running.borrow_mut().push(self.id));
        let _unmark = Unmark;
        Pin::new(&mut self.body).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(outcome: Outcome) -> Option<Vec<u8>> {
        match outcome {
            Outcome::Json(bytes) => Some(bytes.to_vec()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn waiters_get_the_landed_outcome_and_the_key_is_free_again() {
        let flights = Flights::default();
        let Joined::Lead(lead) = flights.join(false, "k") else {
            panic!("first caller leads")
        };
        let Joined::Wait(flight) = flights.join(false, "k") else {
            panic!("second caller waits")
        };
        assert!(
            matches!(flights.join(true, "k"), Joined::Lead(_)),
            "blocking callers have flights of their own"
        );
        let waiting = tokio::spawn(async move { flight.wait().await });
        tokio::task::yield_now().await;
        lead.land(|| Outcome::Json(b"42".as_slice().into()));
        assert_eq!(json(waiting.await.unwrap()), Some(b"42".to_vec()));
        assert!(matches!(flights.join(false, "k"), Joined::Lead(_)));
    }

    #[tokio::test]
    async fn a_dropped_leader_abandons_its_flight() {
        let flights = Flights::default();
        let lead = flights.join(false, "k");
        let Joined::Wait(flight) = flights.join(false, "k") else {
            panic!("waits")
        };
        drop(lead);
        assert!(matches!(flight.wait().await, Outcome::Abandoned));
    }

    #[tokio::test]
    async fn callers_who_join_after_a_publish_get_it_until_the_flight_closes() {
        let flights = Flights::default();
        let Joined::Lead(mut lead) = flights.join(false, "k") else {
            panic!("leads")
        };
        let Joined::Wait(early) = flights.join(false, "k") else {
            panic!("waits")
        };
        lead.publish(|| Outcome::Empty);
        assert!(matches!(early.wait().await, Outcome::Empty));
        // The store write is going on: the flight is still open.
        let Joined::Wait(late) = flights.join(false, "k") else {
            panic!("joins the open flight")
        };
        assert!(matches!(late.wait().await, Outcome::Empty));
        drop(lead);
        assert!(matches!(flights.join(false, "k"), Joined::Lead(_)));
    }

    #[tokio::test]
    async fn a_publish_made_for_nobody_leaves_later_callers_to_the_store() {
        let flights = Flights::default();
        let Joined::Lead(mut lead) = flights.join(false, "k") else {
            panic!("leads")
        };
        lead.publish(|| unreachable!("no waiters yet"));
        let Joined::Wait(late) = flights.join(false, "k") else {
            panic!("joins")
        };
        drop(lead);
        assert!(matches!(late.wait().await, Outcome::Abandoned));
    }

    #[test]
    fn the_outcome_is_made_only_for_waiters() {
        let flights = Flights::default();
        let Joined::Lead(lead) = flights.join(false, "k") else {
            panic!("leads")
        };
        lead.land(|| unreachable!("no waiters, no outcome"));
    }

    #[test]
    fn a_close_passes_the_marks_of_its_shard_only() {
        let flights = Flights::default();
        let mark = flights.mark(false, "k");
        let other = (0..)
            .map(|n| n.to_string())
            .find(|key| shard(key) != shard("k"));
        let other = flights.mark(false, &other.unwrap());
        let blocking = flights.mark(true, "k");
        let Joined::Lead(lead) = flights.join(false, "k") else {
            panic!("leads")
        };
        assert!(!mark.passed(), "open is not closed");
        drop(lead);
        assert!(mark.passed());
        assert!(!other.passed());
        assert!(!blocking.passed());
    }

    #[test]
    fn a_key_is_running_here_only_while_its_body_is_polled() {
        let flights = Flights::default();
        let inner = std::future::poll_fn(|_| {
            assert!(running_here(&flights, false, "k"));
            assert!(!running_here(&flights, true, "k"), "sync calls are apart");
            assert!(!running_here(&flights, false, "other"));
            assert!(
                !running_here(&Flights::default(), false, "k"),
                "another cache"
            );
            Poll::Ready(())
        });
        let inner = std::pin::pin!(inner);
        let body = Running::new(&flights, false, "k", inner);
        futures_util::FutureExt::now_or_never(body).expect("ready");
        assert!(!running_here(&flights, false, "k"));
    }

    #[test]
    fn one_refresh_per_key_at_a_time() {
        let flights = Flights::default();
        let first = flights.start_refresh(false, "k");
        assert!(first.is_some());
        assert!(flights.start_refresh(false, "k").is_none());
        drop(first);
        assert!(flights.start_refresh(false, "k").is_some());
    }
}
