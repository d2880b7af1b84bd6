//! With the `metrics` feature, every cached call is reported to the
//! `metrics` facade: calls by outcome, other events, and call durations.

use cache_test_support as support;

use cache_runtime::{cache_result, Cache, Config};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use support::RedisServer;

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn measured(cache: &Cache, id: u64) -> u64 {
    id * 3
}

#[test]
fn calls_events_and_durations_are_reported() {
    let server = RedisServer::start();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = support::current_thread_runtime();
        runtime.block_on(async {
            let cache = Config::redis(server.url()).build().unwrap();
            for _ in 0..5 {
                measured(&cache, 1).await; // 1 miss, 4 hits
            }
        });
    });

    let seen = reported(&snapshotter);
    // Every outcome and event of the function is registered on its first
    // call, at zero (a series that appears only on its first increment
    // would leave gaps in rates and alerts).
    assert_eq!(seen.len(), 11, "{seen:#?}");
    assert_eq!(
        nonzero(&seen),
        [
            "cache_result_call_seconds  5",
            "cache_result_calls_total outcome=hit 4",
            "cache_result_calls_total outcome=miss 1",
            "cache_result_events_total event=execution 1",
            "cache_result_events_total event=store 1",
        ]
    );
}

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn measured_later(cache: &Cache, id: u64) -> u64 {
    id * 5
}

/// `<name> <outcome or event> <value>` of each metric `snapshotter` saw,
/// sorted; each is checked to be labelled with a function of this file.
fn reported(snapshotter: &metrics_util::debugging::Snapshotter) -> Vec<String> {
    let mut seen: Vec<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = (key.kind(), key.key());
            let labels: Vec<String> = key
                .labels()
                .map(|label| format!("{}={}", label.key(), label.value()))
                .collect();
            assert!(
                labels[0].starts_with("function=suite::metrics::measured"),
                "{labels:?}"
            );
            let value = match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(count)) => count,
                (MetricKind::Histogram, DebugValue::Histogram(values)) => values.len() as u64,
                other => panic!("unexpected {other:?}"),
            };
            format!("{} {} {value}", key.name(), labels[1..].join(","))
        })
        .collect();
    seen.sort();
    seen
}

/// The metrics of `seen` with a value.
fn nonzero(seen: &[String]) -> Vec<&str> {
    seen.iter()
        .map(String::as_str)
        .filter(|metric| !metric.ends_with(" 0"))
        .collect()
}

/// Handles are kept per recorder: calls made before a recorder is set do
/// not leave the later ones reporting to nowhere, and each recorder gets
/// its own calls.
#[test]
fn a_recorder_set_after_the_first_calls_gets_the_calls_after_it() {
    let server = RedisServer::start();
    let runtime = support::current_thread_runtime();
    let cache = Config::redis(server.url()).build().unwrap();
    runtime.block_on(measured_later(&cache, 1)); // no recorder: a miss

    let (first, second) = (DebuggingRecorder::new(), DebuggingRecorder::new());
    metrics::with_local_recorder(&first, || {
        runtime.block_on(async {
            measured_later(&cache, 1).await;
            measured_later(&cache, 1).await;
        })
    });
    metrics::with_local_recorder(&second, || runtime.block_on(measured_later(&cache, 1)));
    metrics::with_local_recorder(&first, || runtime.block_on(measured_later(&cache, 1)));

    assert_eq!(
        nonzero(&reported(&first.snapshotter())),
        [
            "cache_result_call_seconds  3",
            "cache_result_calls_total outcome=hit 3",
        ]
    );
    assert_eq!(
        nonzero(&reported(&second.snapshotter())),
        [
            "cache_result_call_seconds  1",
            "cache_result_calls_total outcome=hit 1",
        ]
    );
}
