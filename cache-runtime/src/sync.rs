//! The crate's one way to take a `Mutex`.

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
