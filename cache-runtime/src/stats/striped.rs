//! Counters that every thread bumps, kept apart per thread.
//!
//! A cached function's counters and latency histogram take writes on every
//! call. Shared by all worker threads, each write moves the counter's cache
//! line from core to core: at the rate of in-process hits (millions a
//! second) that was the largest cost of a hit on two cores, more than the
//! lookup itself. So each thread writes to a stripe of its own (threads
//! take stripes in turn; past [`STRIPES`] threads share them, still exact,
//! as atomics), and readers add the stripes up.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Stripes per set: the worker threads of most runtimes.
const STRIPES: usize = 8;

/// A value on cache lines of its own (128 bytes: x86 prefetches lines in
/// pairs).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

/// One `T` per stripe, allocated on first write: a function never called
/// costs a pointer, not [`STRIPES`] copies in the binary's data.
pub(crate) struct Striped<T> {
    stripes: OnceLock<Box<[Padded<T>]>>,
}

impl<T: Default> Striped<T> {
    pub(crate) const fn new() -> Self {
        Striped {
            stripes: OnceLock::new(),
        }
    }

    /// The calling thread's stripe, to write to.
    pub(crate) fn mine(&self) -> &T {
        let stripes = self
            .stripes
            .get_or_init(|| (0..STRIPES).map(|_| Padded::default()).collect());
        &stripes[stripe_of_this_thread()].0
    }

    /// Every stripe, to add up (none before the first write).
    pub(crate) fn all(&self) -> impl Iterator<Item = &T> {
        self.stripes
            .get()
            .into_iter()
            .flat_map(|stripes| stripes.iter().map(|padded| &padded.0))
    }
}

fn stripe_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static STRIPE: usize = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    }
    // During the thread's teardown: any stripe will do.
    STRIPE.try_with(|stripe| *stripe).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;

    #[test]
    fn writes_from_many_threads_add_up() {
        let counter: Striped<AtomicU64> = Striped::new();
        assert_eq!(counter.all().count(), 0);
        std::thread::scope(|scope| {
            for _ in 0..2 * STRIPES {
                scope.spawn(|| {
                    for _ in 0..1000 {
                        counter.mine().fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let total: u64 = counter.all().map(|n| n.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 2 * STRIPES as u64 * 1000);
        let used = counter
            .all()
            .filter(|n| n.load(Ordering::Relaxed) > 0)
            .count();
        assert!(used > 1, "every thread wrote to one stripe");
    }
}
