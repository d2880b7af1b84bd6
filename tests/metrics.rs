//! With the `metrics` feature, every cached call is reported to the
//! `metrics` facade: calls by outcome, other events, and call durations.

mod support;

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
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let cache = Config::redis(server.url()).build().unwrap();
            for _ in 0..5 {
                measured(&cache, 1).await; // 1 miss, 4 hits
            }
        });
    });

    let mut seen = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = (key.kind(), key.key());
        let labels: Vec<String> = key
            .labels()
            .map(|label| format!("{}={}", label.key(), label.value()))
            .collect();
        assert!(
            labels.contains(&"function=metrics::measured".to_owned()),
            "{labels:?}"
        );
        let value = match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(count)) => count,
            (MetricKind::Histogram, DebugValue::Histogram(values)) => values.len() as u64,
            other => panic!("unexpected {other:?}"),
        };
        seen.push(format!("{} {} {value}", key.name(), labels[1..].join(",")));
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "cache_result_call_seconds  5",
            "cache_result_calls_total outcome=hit 4",
            "cache_result_calls_total outcome=miss 1",
            "cache_result_events_total event=execution 1",
            "cache_result_events_total event=store 1",
        ]
    );
}
