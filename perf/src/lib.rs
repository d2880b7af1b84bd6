//! What the measurement programs share: interleaved throughput, the
//! steadiest time-based comparison on a shared, noisy machine (each
//! contender runs a short window in turn, rounds repeated).

use std::future::Future;
use std::time::{Duration, Instant};

/// One task's calls of one contender, with what it needs held across
/// calls (no clone per call: a clone of a shared `Arc` is a contended
/// atomic, which would weigh on the fastest contender most).
pub trait Caller: Send + 'static {
    fn call(&mut self) -> impl Future<Output = ()> + Send + '_;
}

/// How long each contender runs in a round.
pub const WINDOW: Duration = Duration::from_millis(300);

/// Calls per second of `tasks` tasks, each calling its `caller(task)` for
/// [`WINDOW`].
pub async fn throughput<C: Caller>(tasks: u64, caller: impl Fn(u64) -> C) -> f64 {
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let mut caller = caller(task);
            tokio::spawn(async move {
                let mut calls = 0u64;
                // The clock every 16 calls: a read per call would be a
                // tenth of an in-process hit.
                while !calls.is_multiple_of(16) || started.elapsed() < WINDOW {
                    caller.call().await;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let mut calls = 0;
    for handle in handles {
        calls += handle.await.expect("a caller");
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

/// The median of `values`.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
