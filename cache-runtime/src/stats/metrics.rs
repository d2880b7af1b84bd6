//! With the `metrics` feature: each function's handles in the `metrics`
//! facade, registered once per thread and recorder instead of once per call.
//!
//! The facade's macros build a metric's key on every use (labels with the
//! function's name: an allocation) and ask the recorder for its handle (a
//! registry lookup): two of each per call, more than an in-process hit
//! costs. Cached handles have a catch, which the facade documents: a handle
//! stays with the recorder that registered it, so one taken before the
//! application installs its recorder would report nothing, ever. Handles
//! are therefore kept by recorder (its address, as `with_recorder` gives
//! it): when the recorder changes, the next call registers anew.
//!
//! Per thread, so that a hit reads no shared memory for them, and so that a
//! local recorder (`metrics::with_local_recorder`, a test's) is seen only
//! where it is set. The cache holds a thread's functions times recorders:
//! a few entries.

use std::cell::RefCell;
use std::collections::HashMap;

use super::event::{Event, EVENTS};

/// One function's handles with one recorder.
pub(crate) struct Handles {
    events: [metrics::Counter; EVENTS],
    seconds: metrics::Histogram,
}

impl Handles {
    fn register(function: &'static str) -> Self {
        Handles {
            events: Event::ALL.map(|event| match event.is_outcome() {
                true => metrics::counter!("cache_result_calls_total",
                    "function" => function, "outcome" => event.name()),
                false => metrics::counter!("cache_result_events_total",
                    "function" => function, "event" => event.name()),
            }),
            seconds: metrics::histogram!("cache_result_call_seconds", "function" => function),
        }
    }

    pub(crate) fn count(&self, event: Event) {
        self.events[event as usize].increment(1);
    }

    pub(crate) fn record(&self, seconds: f64) {
        self.seconds.record(seconds);
    }
}

/// (function's counters, recorder) by address.
type Registered = HashMap<(usize, usize), Handles>;

thread_local! {
    static HANDLES: RefCell<Registered> = RefCell::new(HashMap::new());
}

/// Runs `report` with the handles of the function `function` (whose
/// counters are at `id`) for the current recorder.
pub(crate) fn report(id: usize, function: Option<&'static str>, report: impl FnOnce(&Handles)) {
    let Some(function) = function else {
        return;
    };
    let recorder =
        metrics::with_recorder(|recorder| std::ptr::from_ref(recorder).cast::<()>() as usize);
    let key = (id, recorder);
    // Unavailable only while the thread's locals are torn down: nothing is
    // reported then.
    let _ = HANDLES.try_with(|handles| {
        let mut handles = handles.borrow_mut();
        report(
            handles
                .entry(key)
                .or_insert_with(|| Handles::register(function)),
        );
    });
}
