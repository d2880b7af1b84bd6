//! The in-process tier: copies of Redis entries kept in the process, so that
//! a hit costs no round trip.
//!
//! A copy never outlives the Redis entry it was taken from: it expires with
//! the entry's time left (`PTTL`, read with the value), or sooner. And no
//! write leaves it behind: Redis itself tells every process with a tier
//! which keys of the cache change, whoever writes them (`listener`: client
//! tracking in broadcast mode, one connection per node), and the crate's own
//! announcements (tags, clears) come on a pub/sub channel,
//! `cache-runtime:invalidate:<prefix>`. While the listener is not
//! subscribed everywhere (not yet, or a connection was lost) the tier is
//! off: it holds nothing and serves nothing, so a missed notice can never
//! leave a stale copy behind. A process's first calls wait for it (up to
//! the connect timeout), so that their values are kept.
//!
//! A read that began before a notice must not put back the value the notice
//! dropped. Every notice advances an epoch, the key's (one of
//! [`STRIPES`] counters, by the key's hash) or the whole tier's; a copy is
//! kept only if neither moved between the Redis read and the fill. Striped,
//! so that the writes of other keys, which every process now hears, do not
//! turn away fills.

use std::any::Any;
use std::collections::HashMap;
use std::hash::{Hash, Hasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

// The call's clock (see `call::flow`): a copy's expiry is checked with the
// call's start time.
use crate::clock::{self, Instant};
use quick_cache::sync::Cache as Map;
use quick_cache::{Equivalent, Lifecycle, OptionsBuilder, Weighter};

use crate::call::policy::Policy;

mod listener;

use listener::Listener;
pub(crate) use listener::Nodes;

/// The in-process tier's settings, for [`Config::local_tier`](crate::Config::local_tier).
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::{Config, LocalTier};
///
/// let config = Config::redis("redis://127.0.0.1:6379").local_tier(
///     LocalTier::max_bytes(256 << 20)      // 256 MiB of keys and values
///         .max_ttl(Duration::from_secs(30)) // no copy older than 30 s
///         .every_function(true),            // not only `local = true` ones
/// );
/// ```
///
/// Without it, a function with `#[cache_result(local = true)]` gets a tier
/// of 64 MiB, and the others none. The tier fronts Redis only: the embedded
/// store already lives in the process.
#[derive(Clone, Debug)]
pub struct LocalTier {
    bound: Bound,
    max_ttl: Option<Duration>,
    every_function: bool,
}

#[derive(Clone, Copy, Debug)]
enum Bound {
    /// Keys and values, values counted as their JSON.
    Bytes(u64),
    Entries(u64),
}

impl Default for LocalTier {
    fn default() -> Self {
        LocalTier::max_bytes(64 * 1024 * 1024)
    }
}

impl LocalTier {
    /// A tier bounded by the bytes of its keys and values (each value
    /// counted as the size of its JSON); copies read least go first
    /// (quick_cache's S3-FIFO-like policy, which resists scans). The bound
    /// is split across the map's shards (4 per core, fewer for a small
    /// bound): a copy larger than one shard's share is not kept.
    pub fn max_bytes(bytes: u64) -> Self {
        LocalTier {
            bound: Bound::Bytes(bytes),
            max_ttl: None,
            every_function: false,
        }
    }

    /// A tier bounded by its number of entries.
    pub fn max_entries(entries: u64) -> Self {
        LocalTier {
            bound: Bound::Entries(entries),
            ..LocalTier::default()
        }
    }

    /// No copy is kept longer than `most`, whatever the Redis entry has
    /// left: a bound on staleness that holds even for writes this crate
    /// does not announce (another program's `SET`).
    pub fn max_ttl(mut self, most: Duration) -> Self {
        self.max_ttl = Some(most);
        self
    }

    /// `true`: every cached function uses the tier unless it says
    /// `local = false`; `false` (the default): only those with `local`.
    pub fn every_function(mut self, on: bool) -> Self {
        self.every_function = on;
        self
    }
}

/// What an announcement drops.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Invalidation<'a> {
    /// The copy of one key.
    Key(&'a str),
    /// Every copy tagged with a tag, by its token's key.
    Tag(&'a str),
    /// Every copy (after a clear of a function or of the cache).
    All,
}

impl Invalidation<'_> {
    /// The message on the channel: `k<key>`, `t<tag key>` or `*`. (A
    /// version that does not know a message drops every copy.)
    pub(crate) fn message(&self) -> Vec<u8> {
        match self {
            Invalidation::Key(key) => [b"k", key.as_bytes()].concat(),
            Invalidation::Tag(tag) => [b"t", tag.as_bytes()].concat(),
            Invalidation::All => b"*".to_vec(),
        }
    }
}

/// A cache's tier, started on first use by a function that wants it.
pub(crate) struct Local {
    settings: LocalTier,
    channel: String,
    /// The cache's key prefix, as keys start with it.
    prefix: String,
    /// Whose writes to hear: the server, a Sentinel's master, or every
    /// master of a cluster.
    nodes: Nodes,
    connect_timeout: Duration,
    tier: OnceLock<Arc<Tier>>,
}

impl Local {
    pub(crate) fn new(
        settings: LocalTier,
        prefix: &str,
        nodes: Nodes,
        connect_timeout: Duration,
    ) -> Self {
        Local {
            settings,
            channel: format!("cache-runtime:invalidate:{prefix}"),
            prefix: prefix.to_owned(),
            nodes,
            connect_timeout,
            tier: OnceLock::new(),
        }
    }

    /// The tier, for a function with `policy`, while it is on or starting
    /// (see [`Tier::wait_started`]).
    pub(crate) fn for_policy(&self, policy: &Policy) -> Option<&Tier> {
        if !policy.local.unwrap_or(self.settings.every_function) {
            return None;
        }
        let tier = self.tier.get_or_init(|| self.start());
        let on = tier.live.load(Ordering::Acquire) || tier.starting.load(Ordering::Acquire);
        on.then_some(&**tier)
    }

    pub(crate) fn channel(&self) -> &str {
        &self.channel
    }

    /// Drops copies in this process (the announcement reaches the others).
    pub(crate) fn invalidate(&self, what: Invalidation<'_>) {
        if let Some(tier) = self.tier.get() {
            tier.invalidate(what);
        }
    }

    fn start(&self) -> Arc<Tier> {
        let tier = Arc::new(Tier::new(&self.settings, self.connect_timeout));
        let tracked = match self.prefix.is_empty() {
            true => String::new(),
            false => format!("{}:", self.prefix),
        };
        let listener = Arc::new(Listener {
            tier: Arc::downgrade(&tier),
            channel: self.channel.clone(),
            tracked,
            tokens: crate::key::tag_key(&self.prefix, ""),
            nodes: self.nodes.clone(),
            connect_timeout: self.connect_timeout,
            refused: AtomicBool::new(false),
        });
        if let Err(error) =
            crate::sync::spawn("cache-runtime-invalidations", move || listener.run())
        {
            tier.started();
            tracing::warn!(%error, "cannot start the invalidation listener; the in-process tier stays off");
        }
        tier
    }
}

/// How many epochs keys are spread over: two keys share one with odds of
/// 1 in 256, and then an invalidation of one turns away a fill of the other
/// that was under way (no copy is wrong for it).
const STRIPES: usize = 256;

/// The stripe of a Redis key: FNV-1a of its bytes.
fn stripe(key: &[u8]) -> usize {
    let hash = key.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash as usize) & (STRIPES - 1)
}

/// Where invalidations stood for a key before a call read it from Redis.
/// Counters of 32 bits, which wrap: a fill compares them across one Redis
/// read, during which four billion notices do not come. (Eight bytes, not
/// sixteen: a call's future keeps one, and stays within the allocator's
/// fast path.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Epoch {
    all: u32,
    key: u32,
}

/// The longest a copy is kept, whatever its entry has left: quanta's
/// instants are nanoseconds in a `u64` (584 years), which a TTL of
/// centuries (a `PEXPIRE` far out, a huge `max_ttl`) would overflow.
const LONGEST: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `from + left`, `left` capped at [`LONGEST`]: when a copy expires.
pub(crate) fn after(from: Instant, left: Duration) -> Instant {
    from + left.min(LONGEST)
}

/// The copies themselves, by their tier key (see `call::keys`).
pub(crate) struct Tier {
    entries: Copies,
    /// Which copy holds each Redis key: announcements name Redis keys.
    holders: Arc<Holders>,
    /// Numbers the fills, so that a copy's eviction forgets its own holder
    /// and never a newer one's.
    fills: AtomicU64,
    /// Advanced by every invalidation of more than a key, and when the
    /// tier goes on or off.
    epoch: AtomicU32,
    /// Advanced by the invalidation of a key whose hash picks it.
    stripes: Box<[AtomicU32]>,
    /// Subscribed everywhere: copies may be kept and served.
    live: AtomicBool,
    /// The listener's first round has neither gone live nor failed yet.
    starting: AtomicBool,
    /// How long a call waits for that (the connect timeout).
    start_within: Duration,
    max_ttl: Option<Duration>,
}

/// A copy: the value's JSON, or the value itself when the function's return
/// type is `Clone` (a hit is then a clone, with no decoding).
#[derive(Clone)]
pub(crate) enum Copied {
    Json(Arc<[u8]>),
    Value(Arc<dyn Any + Send + Sync>),
}

/// A copy, as the map holds it (cloned by every hit: an `Arc` and plain
/// values).
#[derive(Clone)]
struct Slot {
    held: Copied,
    expires_at: Instant,
    /// The JSON's size, for the byte bound.
    json_len: u32,
    /// The fill that made it.
    fill: u64,
}

/// A copy's key in the map: its tier key, which alone is hashed and
/// compared (the map is looked up by [`Lookup`]), and the Redis key it is a
/// copy of, kept here rather than in the [`Slot`] that hits clone.
#[derive(Clone)]
struct CopyKey {
    local: Arc<[u8]>,
    redis_key: Arc<str>,
    /// The keys of the entry's tags' tokens, if it has any.
    tags: Option<Arc<[String]>>,
}

/// A tier key, as the map is looked up by. Hashed as one write of its
/// bytes: a slice's `Hash` also writes its length first, a second round of
/// SipHash's buffering for nothing (a key is the only write).
struct Lookup<'a>(&'a [u8]);

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write(self.0);
    }
}

impl Hash for CopyKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Lookup(&self.local).hash(state);
    }
}

impl PartialEq for CopyKey {
    fn eq(&self, other: &Self) -> bool {
        self.local == other.local
    }
}

impl Eq for CopyKey {}

impl Equivalent<CopyKey> for Lookup<'_> {
    fn equivalent(&self, key: &CopyKey) -> bool {
        *self.0 == *key.local
    }
}

type Copies = Map<CopyKey, Slot, Weight, RandomState, Evictions>;

/// A copy's weight against the tier's bound.
#[derive(Clone)]
struct Weight(Bound);

impl Weighter<CopyKey, Slot> for Weight {
    fn weight(&self, key: &CopyKey, slot: &Slot) -> u64 {
        match self.0 {
            Bound::Bytes(_) => {
                (key.local.len() + key.redis_key.len()) as u64 + u64::from(slot.json_len)
            }
            Bound::Entries(_) => 1,
        }
    }
}

/// An evicted copy takes its holder with it.
#[derive(Clone)]
struct Evictions(Arc<Holders>);

impl Lifecycle<CopyKey, Slot> for Evictions {
    type RequestState = ();

    fn on_evict(&self, _: &mut (), key: CopyKey, slot: Slot) {
        self.0.forget(&key.redis_key, slot.fill);
    }
}

/// Redis key -> the tier key of its copy, and the fill that made it. It may
/// name copies that are gone (dropping those is harmless); it never misses
/// one that is there: an entry is added before its copy, and removed only
/// with it.
#[derive(Default)]
struct Holders(Mutex<HashMap<Arc<str>, Holder>>);

/// A copy's tier key, and the number of the fill that made it.
type Holder = (Arc<[u8]>, u64);

impl Holders {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Holder>> {
        crate::sync::lock(&self.0)
    }

    /// Records `local` as the copy of `redis_key`; the copy it replaces, if
    /// another.
    fn hold(&self, redis_key: &Arc<str>, local: &Arc<[u8]>, fill: u64) -> Option<Arc<[u8]>> {
        let before = self.lock().insert(redis_key.clone(), (local.clone(), fill));
        before.map(|(held, _)| held).filter(|held| held != local)
    }

    /// Forgets the copy of `redis_key` if it is still the one `fill` made.
    fn forget(&self, redis_key: &str, fill: u64) {
        let mut holders = self.lock();
        if holders
            .get(redis_key)
            .is_some_and(|(_, held)| *held == fill)
        {
            holders.remove(redis_key);
        }
    }
}

impl Tier {
    fn new(settings: &LocalTier, start_within: Duration) -> Self {
        let holders = Arc::new(Holders::default());
        let (capacity, copies) = match settings.bound {
            // The map sizes its shards and its memory of recent keys from
            // an estimate of the count; a copy is a few hundred bytes.
            Bound::Bytes(bytes) => (bytes, bytes / 512),
            Bound::Entries(entries) => (entries, entries),
        };
        let options = OptionsBuilder::new()
            .weight_capacity(capacity)
            .estimated_items_capacity(usize::try_from(copies.max(1)).unwrap_or(usize::MAX))
            .build()
            .expect("weight capacity and estimate are set");
        let entries = Map::with_options(
            options,
            Weight(settings.bound),
            RandomState::new(),
            Evictions(Arc::clone(&holders)),
        );
        Tier {
            entries,
            holders,
            fills: AtomicU64::new(0),
            epoch: AtomicU32::new(0),
            stripes: (0..STRIPES).map(|_| AtomicU32::new(0)).collect(),
            live: AtomicBool::new(false),
            starting: AtomicBool::new(true),
            start_within,
            max_ttl: settings.max_ttl,
        }
    }

    /// The copy under tier key `local` and the time it has left at `now`
    /// (the call's start: one clock read serves both).
    pub(crate) fn get(&self, local: &[u8], now: Instant) -> Option<(Copied, Duration)> {
        let slot = self.entries.get(&Lookup(local))?;
        match slot.expires_at.checked_duration_since(now) {
            Some(left) if !left.is_zero() => {
                // Checked after the read: a tier switched off meanwhile.
                self.live
                    .load(Ordering::Acquire)
                    .then_some((slot.held, left))
            }
            _ => {
                self.drop_expired(local, &slot);
                None
            }
        }
    }

    /// Removes `slot`, found expired at `local`, unless a newer fill
    /// replaced it meanwhile.
    fn drop_expired(&self, local: &[u8], slot: &Slot) {
        if let Some((key, _)) = self
            .entries
            .remove_if(&Lookup(local), |current| current.fill == slot.fill)
        {
            self.holders.forget(&key.redis_key, slot.fill);
        }
    }

    /// Removes every expired copy (the map has no expiry of its own: a copy
    /// nobody reads again would otherwise wait for the bound to push it
    /// out). Run by the listener thread, every [`SWEEP`].
    fn sweep(&self) {
        let now = clock::now();
        self.entries.retain(|key, slot| {
            let live = slot.expires_at > now;
            if !live {
                self.holders.forget(&key.redis_key, slot.fill);
            }
            live
        });
    }

    /// Where invalidations of `redis_key` stand; take it before reading
    /// Redis, give it back to [`Tier::fill`].
    pub(crate) fn epoch(&self, redis_key: &str) -> Epoch {
        self.epoch_of(stripe(redis_key.as_bytes()))
    }

    /// Where invalidations stand for the keys of `stripe`.
    fn epoch_of(&self, stripe: usize) -> Epoch {
        Epoch {
            all: self.epoch.load(Ordering::SeqCst),
            key: self.stripes[stripe].load(Ordering::SeqCst),
        }
    }

    /// Whether the listener has not yet gone live nor failed: a call that
    /// reads Redis now should [wait](Tier::wait_started) for it, or its
    /// value will not be kept.
    pub(crate) fn is_starting(&self) -> bool {
        self.starting.load(Ordering::Acquire)
    }

    /// Waits until the listener's first round has gone live or failed (a
    /// connect timeout at most), pausing with `sleep` (a Tokio timer or the
    /// thread's): a process's first calls, whose values the tier then
    /// keeps. (A fill from a read that began before the tier went on is
    /// refused: a write may have come before the listener heard it.)
    pub(crate) async fn wait_started<F: std::future::Future>(&self, sleep: impl Fn(Duration) -> F) {
        let started = clock::now();
        while self.is_starting() && started.elapsed() < self.start_within {
            sleep(Duration::from_micros(500)).await;
        }
    }

    /// The listener's first round went live or failed.
    fn started(&self) {
        self.starting.store(false, Ordering::Release);
    }

    /// Keeps a copy of what Redis holds at `redis_key` until `expires` (the
    /// entry's expiry there, at the latest) and for `most` at most, under
    /// tier key `local`, unless an invalidation came since `epoch`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fill(
        &self,
        epoch: Epoch,
        local: &[u8],
        redis_key: &str,
        held: Copied,
        json_len: usize,
        expires: Instant,
        most: Option<Duration>,
        tags: Option<&[String]>,
    ) {
        // Hashed once: the epoch is checked again after the insert.
        let stripe = stripe(redis_key.as_bytes());
        if !self.live.load(Ordering::Acquire) || self.epoch_of(stripe) != epoch {
            return;
        }
        let now = clock::now();
        let expires_at = [most, self.max_ttl]
            .into_iter()
            .flatten()
            .map(|most| after(now, most))
            .fold(expires, Instant::min);
        if expires_at <= now {
            return;
        }
        let local: Arc<[u8]> = local.into();
        let redis_key: Arc<str> = redis_key.into();
        let fill = self.fills.fetch_add(1, Ordering::Relaxed);
        #[cfg(test)]
        tests::BEFORE_HOLD.with(|hook| hook.take().map(|hook| hook(self)));
        // The holder first: an invalidation from now on finds the copy.
        let replaced = self.holders.hold(&redis_key, &local, fill);
        let slot = Slot {
            held,
            expires_at,
            json_len: u32::try_from(json_len).unwrap_or(u32::MAX),
            fill,
        };
        let key = CopyKey {
            local: local.clone(),
            redis_key,
            tags: tags.map(Arc::from),
        };
        self.entries.insert(key, slot);
        if let Some(replaced) = replaced {
            self.entries.remove(&Lookup(&replaced));
        }
        // An invalidation between the check above and the holder has not
        // seen this copy: take it back, and its holder with it. (One after
        // it finds the holder.)
        if self.epoch_of(stripe) != epoch {
            if let Some((key, slot)) = self.entries.remove(&Lookup(&local)) {
                self.holders.forget(&key.redis_key, slot.fill);
            }
        }
    }

    /// Drops the copy of the Redis key `key` (bytes: Redis names keys that
    /// are not text, which no copy is of, but whose stripe a fill may use).
    fn invalidate_key(&self, key: &[u8]) {
        self.stripes[stripe(key)].fetch_add(1, Ordering::SeqCst);
        let Ok(key) = std::str::from_utf8(key) else {
            return;
        };
        let holder = self.holders.lock().remove(key);
        if let Some((local, _)) = holder {
            self.entries.remove(&Lookup(&local));
        }
    }

    fn invalidate(&self, what: Invalidation<'_>) {
        match what {
            Invalidation::Key(key) => self.invalidate_key(key.as_bytes()),
            Invalidation::Tag(tag) => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                self.entries.retain(|key, slot| {
                    let tagged = key
                        .tags
                        .as_ref()
                        .is_some_and(|tags| tags.iter().any(|held| held == tag));
                    if tagged {
                        self.holders.forget(&key.redis_key, slot.fill);
                    }
                    !tagged
                })
            }
            Invalidation::All => {
                self.epoch.fetch_add(1, Ordering::SeqCst);
                self.holders.lock().clear();
                self.entries.clear();
            }
        }
    }

    /// On (subscribed) or off (not subscribed); empty either way.
    fn set_live(&self, live: bool) {
        if !live {
            self.live.store(false, Ordering::Release);
        }
        self.invalidate(Invalidation::All);
        if live {
            self.live.store(true, Ordering::Release);
        }
    }

    /// Applies one message from the channel.
    fn apply(&self, message: &[u8]) {
        match message {
            [b'k', key @ ..] => match std::str::from_utf8(key) {
                Ok(key) => self.invalidate(Invalidation::Key(key)),
                Err(_) => self.invalidate(Invalidation::All),
            },
            [b't', tag @ ..] => match std::str::from_utf8(tag) {
                Ok(tag) => self.invalidate(Invalidation::Tag(tag)),
                Err(_) => self.invalidate(Invalidation::All),
            },
            // `*`, or anything this version does not know: drop everything.
            _ => self.invalidate(Invalidation::All),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live_tier() -> Tier {
        let tier = Tier::new(&LocalTier::max_entries(100), Duration::ZERO);
        tier.set_live(true);
        tier
    }

    fn json(text: &str) -> Copied {
        Copied::Json(text.as_bytes().into())
    }

    fn text(tier: &Tier, key: &str) -> Option<String> {
        match tier.get(key.as_bytes(), Instant::now())?.0 {
            Copied::Json(bytes) => Some(String::from_utf8(bytes.to_vec()).unwrap()),
            Copied::Value(_) => None,
        }
    }

    const MINUTE: Duration = Duration::from_secs(60);

    /// A copy of Redis key `key` under tier key `local`, the entry having
    /// `left` to live and the function allowing `most`.
    fn fill(
        tier: &Tier,
        local: &[u8],
        key: &str,
        value: &str,
        left: Duration,
        most: Option<Duration>,
    ) {
        let expires = Instant::now() + left;
        tier.fill(
            tier.epoch(key),
            local,
            key,
            json(value),
            value.len(),
            expires,
            most,
            None,
        );
    }

    /// A copy of Redis key `key` under the same tier key, for a minute.
    fn copy(tier: &Tier, key: &str, value: &str) {
        fill(tier, key.as_bytes(), key, value, MINUTE, None);
    }

    #[test]
    fn a_fill_is_served_until_invalidated() {
        let tier = live_tier();
        copy(&tier, "k", "1");
        assert_eq!(text(&tier, "k").as_deref(), Some("1"));
        tier.apply(b"kk");
        assert_eq!(text(&tier, "k"), None);
    }

    #[test]
    fn a_tag_drops_the_copies_it_tags_and_no_other() {
        let tier = live_tier();
        let tags = ["t:user:1".to_owned(), "t:users".to_owned()];
        let expires = Instant::now() + MINUTE;
        tier.fill(
            tier.epoch("a"),
            b"a",
            "a",
            json("1"),
            1,
            expires,
            None,
            Some(&tags),
        );
        tier.fill(
            tier.epoch("b"),
            b"b",
            "b",
            json("2"),
            1,
            expires,
            None,
            Some(&tags[1..]),
        );
        copy(&tier, "c", "3");
        tier.apply(&Invalidation::Tag("t:user:1").message());
        assert_eq!(text(&tier, "a"), None);
        assert_eq!(text(&tier, "b").as_deref(), Some("2"));
        tier.apply(b"tt:users");
        assert_eq!(text(&tier, "b"), None);
        assert_eq!(text(&tier, "c").as_deref(), Some("3"), "untagged");
    }

    #[test]
    fn a_fill_after_an_invalidation_it_did_not_see_is_dropped() {
        let tier = live_tier();
        let epoch = tier.epoch("k");
        tier.apply(&Invalidation::All.message());
        let expires = Instant::now() + MINUTE;
        tier.fill(epoch, b"k", "k", json("old"), 3, expires, None, None);
        assert_eq!(text(&tier, "k"), None);
    }

    #[test]
    fn a_keys_notice_turns_away_its_fills_under_way_only() {
        let tier = live_tier();
        let (key, other) = ("k", "other");
        assert_ne!(stripe(key.as_bytes()), stripe(other.as_bytes()));
        let (epoch, other_epoch) = (tier.epoch(key), tier.epoch(other));
        tier.invalidate_key(key.as_bytes());
        let expires = Instant::now() + MINUTE;
        tier.fill(epoch, b"k", key, json("old"), 3, expires, None, None);
        assert_eq!(text(&tier, "k"), None, "read before the notice");
        tier.fill(other_epoch, b"o", other, json("1"), 1, expires, None, None);
        assert_eq!(text(&tier, "o").as_deref(), Some("1"), "another key's");
    }

    proptest::proptest! {
        /// Whatever a key holds (`:`, `*`, `{`, `?`, unicode, nothing), its
        /// notice drops its copy and turns away its fills under way.
        #[test]
        fn a_keys_notice_reaches_its_copy_and_its_fills(key in ".*", other in ".*") {
            let tier = live_tier();
            let before = tier.epoch(&key);
            copy(&tier, &key, "1");
            tier.invalidate_key(key.as_bytes());
            proptest::prop_assert_eq!(text(&tier, &key), None);
            proptest::prop_assert_ne!(tier.epoch(&key), before);
            let expires = Instant::now() + MINUTE;
            tier.fill(before, key.as_bytes(), &key, json("2"), 1, expires, None, None);
            proptest::prop_assert_eq!(text(&tier, &key), None, "read before the notice");
            if other != key {
                copy(&tier, &other, "3");
                tier.invalidate_key(key.as_bytes());
                let kept = text(&tier, &other);
                proptest::prop_assert_eq!(kept.as_deref(), Some("3"));
            }
        }
    }

    #[test]
    fn centuries_to_live_do_not_overflow_the_clock() {
        let tier = Tier::new(
            &LocalTier::max_entries(10).max_ttl(Duration::MAX),
            Duration::ZERO,
        );
        tier.set_live(true);
        let forever = after(Instant::now(), Duration::MAX);
        tier.fill(
            tier.epoch("k"),
            b"k",
            "k",
            json("1"),
            1,
            forever,
            Some(Duration::MAX),
            None,
        );
        assert!(tier.get(b"k", Instant::now()).is_some());
    }

    #[test]
    fn copies_expire_with_the_shortest_bound() {
        let tier = Tier::new(&LocalTier::max_entries(10).max_ttl(MINUTE), Duration::ZERO);
        tier.set_live(true);
        fill(&tier, b"a", "a", "1", 2 * MINUTE, None);
        fill(
            &tier,
            b"b",
            "b",
            "1",
            2 * MINUTE,
            Some(Duration::from_secs(5)),
        );
        let left = |key: &str| tier.get(key.as_bytes(), Instant::now()).unwrap().1;
        assert!(left("a") <= MINUTE && left("a") > MINUTE - Duration::from_secs(5));
        assert!(left("b") <= Duration::from_secs(5));
    }

    #[test]
    fn an_off_tier_keeps_and_serves_nothing() {
        let tier = live_tier();
        copy(&tier, "k", "1");
        tier.set_live(false);
        assert_eq!(text(&tier, "k"), None);
        copy(&tier, "k", "1");
        assert_eq!(text(&tier, "k"), None);
    }

    #[test]
    fn unknown_messages_drop_everything() {
        let tier = live_tier();
        copy(&tier, "k", "1");
        tier.apply(b"?future message");
        assert_eq!(text(&tier, "k"), None);
    }

    #[test]
    fn messages_round_trip() {
        let tier = live_tier();
        copy(&tier, "a:b", "1");
        copy(&tier, "c", "1");
        tier.apply(&Invalidation::Key("a:b").message());
        assert_eq!(text(&tier, "a:b"), None);
        assert!(text(&tier, "c").is_some());
        tier.apply(&Invalidation::All.message());
        assert_eq!(text(&tier, "c"), None);
    }

    thread_local! {
        /// Runs inside the next fill, between its epoch check and its
        /// holder: where an invalidation races it.
        pub(super) static BEFORE_HOLD: std::cell::Cell<Option<fn(&Tier)>> =
            const { std::cell::Cell::new(None) };
    }

    #[test]
    fn a_fill_taken_back_after_an_invalidation_forgets_its_holder() {
        let tier = live_tier();
        BEFORE_HOLD.with(|hook| hook.set(Some(|tier: &Tier| tier.invalidate(Invalidation::All))));
        copy(&tier, "k", "1");
        assert_eq!(text(&tier, "k"), None, "the invalidation won");
        assert!(tier.holders.lock().is_empty(), "a holder outlived its copy");
    }

    #[test]
    fn evicted_copies_leave_no_holders_behind() {
        let tier = Tier::new(&LocalTier::max_entries(10), Duration::ZERO);
        tier.set_live(true);
        for i in 0..1000 {
            copy(&tier, &format!("k{i}"), "1");
        }
        assert!(tier.entries.len() <= 10, "{} copies", tier.entries.len());
        let held = tier.holders.lock().len();
        assert!(held <= tier.entries.len(), "{held} holders");
    }

    #[test]
    fn a_copy_filled_again_after_its_eviction_is_still_invalidated() {
        let tier = Tier::new(&LocalTier::max_entries(1), Duration::ZERO);
        tier.set_live(true);
        for _ in 0..20 {
            copy(&tier, "a", "1");
            copy(&tier, "b", "1");
        }
        copy(&tier, "a", "1");
        if text(&tier, "a").is_some() {
            tier.apply(b"ka");
            assert_eq!(text(&tier, "a"), None);
        }
        copy(&tier, "a", "1");
        tier.apply(b"ka");
        assert_eq!(text(&tier, "a"), None);
    }

    #[test]
    fn a_redis_key_under_a_new_tier_key_drops_the_old_copy() {
        let tier = live_tier();
        fill(&tier, b"one", "k", "1", MINUTE, None);
        fill(&tier, b"two", "k", "2", MINUTE, None);
        assert!(tier.get(b"one", Instant::now()).is_none());
        assert!(tier.get(b"two", Instant::now()).is_some());
        tier.apply(b"kk");
        assert!(tier.get(b"two", Instant::now()).is_none());
    }

    /// Fills `key` for a millisecond and waits until it has expired.
    fn expired(tier: &Tier, key: &str) {
        let left = Duration::from_millis(1);
        fill(tier, key.as_bytes(), key, "1", left, None);
        std::thread::sleep(5 * left);
    }

    #[test]
    fn an_expired_copy_read_is_removed_with_its_holder() {
        let tier = live_tier();
        expired(&tier, "k");
        assert_eq!(text(&tier, "k"), None);
        assert_eq!(tier.entries.len(), 0);
        assert!(tier.holders.lock().is_empty());
    }

    #[test]
    fn a_sweep_removes_expired_copies_and_their_holders_only() {
        let tier = live_tier();
        expired(&tier, "gone");
        copy(&tier, "kept", "1");
        tier.sweep();
        assert_eq!(tier.entries.len(), 1);
        assert!(tier.holders.lock().contains_key("kept"));
        assert!(!tier.holders.lock().contains_key("gone"));
        assert_eq!(text(&tier, "kept").as_deref(), Some("1"));
    }

    #[test]
    fn a_byte_bound_holds_keys_and_json() {
        let tier = Tier::new(&LocalTier::max_bytes(10_000), Duration::ZERO);
        tier.set_live(true);
        let value = "x".repeat(90);
        for i in 0..1000 {
            copy(&tier, &format!("k{i:04}"), &value);
        }
        // Each copy weighs its two keys (5 bytes each) and its JSON.
        assert!(tier.entries.weight() <= 10_000, "{}", tier.entries.weight());
        assert!(tier.entries.len() >= 10, "{} copies", tier.entries.len());
        assert!(tier.holders.lock().len() <= tier.entries.len());
    }

    #[test]
    fn a_copy_larger_than_the_bound_is_not_kept_nor_held() {
        let tier = Tier::new(&LocalTier::max_bytes(1_000), Duration::ZERO);
        tier.set_live(true);
        copy(&tier, "big", &"x".repeat(2_000));
        assert_eq!(text(&tier, "big"), None);
        assert!(tier.holders.lock().is_empty());
    }
}
