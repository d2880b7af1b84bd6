//! Call latency per function: a lock-free log-linear histogram (HDR-style),
//! one relaxed atomic add per call (to the calling thread's stripe, see
//! `striped`), percentiles within 12.5 %.
//!
//! Values are nanoseconds. Below 16 ns each value has its own bucket; above,
//! each power of two is split into 8 buckets, so that a bucket's width is at
//! most 1/8 of its lower bound. 37 octaves reach about 36 minutes; longer
//! calls land in the last bucket (`max` is exact).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::stats::striped::Striped;

const LINEAR: usize = 16;
const SUB_BITS: u32 = 3;
const SUBS: usize = 1 << SUB_BITS;
const OCTAVES: usize = 37;
const BUCKETS: usize = LINEAR + OCTAVES * SUBS;

pub(crate) struct Histogram {
    buckets: Striped<Buckets>,
    /// Written only on a new maximum.
    max: AtomicU64,
}

struct Buckets([AtomicU64; BUCKETS]);

impl Default for Buckets {
    fn default() -> Self {
        Buckets([const { AtomicU64::new(0) }; BUCKETS])
    }
}

/// Latency percentiles of one cached function's calls in this process: the
/// time from the call to its return, whatever answered it (in-process tier,
/// store, a concurrent call, or the function). Each percentile is the upper
/// bound of its histogram bucket (within 12.5 %), never above `max`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// Calls measured.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// 99.9th percentile.
    pub p999: Duration,
    /// The slowest call.
    pub max: Duration,
}

impl Histogram {
    pub(crate) const fn new() -> Self {
        Histogram {
            buckets: Striped::new(),
            max: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, took: Duration) {
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.buckets.mine().0[bucket(nanos)].fetch_add(1, Ordering::Relaxed);
        // A locked read-modify-write only for a new maximum.
        if nanos > self.max.load(Ordering::Relaxed) {
            self.max.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> Latency {
        let mut counts = vec![0u64; BUCKETS];
        for stripe in self.buckets.all() {
            for (count, bucket) in counts.iter_mut().zip(&stripe.0) {
                *count += bucket.load(Ordering::Relaxed);
            }
        }
        let count: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        let at = |quantile: f64| {
            // The smallest value with at least `quantile` of the calls at or
            // below it.
            let rank = ((quantile * count as f64).ceil() as u64).max(1);
            let mut seen = 0;
            for (index, &in_bucket) in counts.iter().enumerate() {
                seen += in_bucket;
                if seen >= rank {
                    return Duration::from_nanos(upper_bound(index).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        match count {
            0 => Latency::default(),
            count => Latency {
                count,
                p50: at(0.5),
                p90: at(0.9),
                p99: at(0.99),
                p999: at(0.999),
                max: Duration::from_nanos(max),
            },
        }
    }
}

fn bucket(nanos: u64) -> usize {
    if nanos < LINEAR as u64 {
        return nanos as usize;
    }
    let octave = (63 - nanos.leading_zeros()) as usize; // at least 4
    let sub = ((nanos >> (octave as u32 - SUB_BITS)) as usize) & (SUBS - 1);
    (LINEAR + (octave - 4) * SUBS + sub).min(BUCKETS - 1)
}

/// The largest value that falls in bucket `index`.
fn upper_bound(index: usize) -> u64 {
    if index < LINEAR {
        return index as u64;
    }
    let octave = (index - LINEAR) / SUBS + 4;
    let sub = ((index - LINEAR) % SUBS) as u64;
    let width = 1u64 << (octave as u32 - SUB_BITS);
    (1u64 << octave) + (sub + 1) * width - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_a_bucket_whose_bound_is_within_an_eighth() {
        for nanos in (0..5000).chain([1 << 20, 123_456_789, (1 << 41) - 1]) {
            let index = bucket(nanos);
            let upper = upper_bound(index);
            assert!(upper >= nanos, "{nanos} in bucket {index} up to {upper}");
            assert!(upper - nanos <= nanos / 8, "{nanos}: bound {upper} too far");
            if index > 0 {
                assert!(
                    upper_bound(index - 1) < nanos,
                    "{nanos}: an earlier bucket fits"
                );
            }
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let histogram = Histogram::new();
        assert_eq!(histogram.snapshot(), Latency::default());
        // 1..=1000 µs, once each.
        for micros in 1..=1000 {
            histogram.record(Duration::from_micros(micros));
        }
        let latency = histogram.snapshot();
        assert_eq!(latency.count, 1000);
        assert_eq!(latency.max, Duration::from_micros(1000));
        for (got, exact) in [
            (latency.p50, 500),
            (latency.p90, 900),
            (latency.p99, 990),
            (latency.p999, 999),
        ] {
            let exact = Duration::from_micros(exact);
            assert!(
                got >= exact && got <= exact + exact / 8,
                "{got:?} for {exact:?}"
            );
        }
    }
}
