//! What a cached call can do, as counted: each call's outcome, and the
//! other events of its path.

/// What a cached call can do; see [`FunctionStats`] for each. The first five
/// are a call's outcome: every call has exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    LocalHit,
    Hit,
    Miss,
    Coalesced,
    Uncached,
    Execution,
    Refresh,
    Stale,
    Store,
    Error,
}

pub(crate) const EVENTS: usize = 10;

impl Event {
    /// Every event, in the order of their counters.
    #[cfg(feature = "metrics")]
    pub(crate) const ALL: [Event; EVENTS] = [
        Event::LocalHit,
        Event::Hit,
        Event::Miss,
        Event::Coalesced,
        Event::Uncached,
        Event::Execution,
        Event::Refresh,
        Event::Stale,
        Event::Store,
        Event::Error,
    ];

    /// The label in spans and metrics.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Event::LocalHit => "local_hit",
            Event::Hit => "hit",
            Event::Miss => "miss",
            Event::Coalesced => "coalesced",
            Event::Uncached => "uncached",
            Event::Execution => "execution",
            Event::Refresh => "refresh",
            Event::Stale => "stale",
            Event::Store => "store",
            Event::Error => "error",
        }
    }

    pub(crate) fn is_outcome(self) -> bool {
        matches!(
            self,
            Event::LocalHit | Event::Hit | Event::Miss | Event::Coalesced | Event::Uncached
        )
    }
}

// `ALL[i]` is the event counted at index `i` (the metrics' handles are
// made in `ALL`'s order and taken by `event as usize`): checked at build.
#[cfg(feature = "metrics")]
const _: () = {
    let mut i = 0;
    while i < EVENTS {
        assert!(Event::ALL[i] as usize == i, "Event::ALL out of order");
        i += 1;
    }
};
