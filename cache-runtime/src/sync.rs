//! The crate's one way to take a `Mutex`, and to start a thread of its own.

use std::sync::{Mutex, MutexGuard};

/// The guard, even if a thread panicked while holding it: every mutex here
/// guards state that a panic cannot leave half-written (a map insert or
/// remove, a counter, a slot), and a cache must not turn one panic into
/// a panic in every later call.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts `work` on a thread named `name` (the tier's listeners, the
/// Sentinels' watch), logging where the code that started it logs: a
/// subscriber set for a scope, not only the global one, sees its warnings.
pub(crate) fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || tracing::dispatcher::with_default(&dispatch, work))
        .map(drop)
}
