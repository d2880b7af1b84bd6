//! The one clock the cache decides by, for what it keeps in the process: the
//! embedded store's expiry, the in-process tier's copies, the circuit
//! breaker's cool-down, and call timings. It is quanta's: the TSC, read in
//! ~11 ns where `std::time::Instant` takes ~29 ns here, and replaceable per
//! thread (`quanta::with_clock`) by a mock that moves only when told to, so
//! that tests advance time instead of sleeping.
//!
//! Waits (a lease's poll, a lock's watchdog, a retry's pause) are not read
//! from it: they pair with Tokio's timer, which a mock could not move.

pub(crate) use quanta::Instant;

/// Now, by the clock of this thread.
#[inline]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Runs `test` with this thread's clock a mock that moves only when the test
/// moves it (`mock.increment(..)`): expiry and cool-downs pass without
/// sleeping, and exactly.
#[cfg(test)]
pub(crate) fn on_mock_clock<T>(test: impl FnOnce(&quanta::Mock) -> T) -> T {
    let (clock, mock) = quanta::Clock::mock();
    // Away from zero, which some callers read as "never".
    mock.increment(std::time::Duration::from_secs(1));
    quanta::with_clock(&clock, || test(&mock))
}
