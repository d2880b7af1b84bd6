//! Fault scenarios against real redis-server processes, shared by
//! `tests/suite/faults.rs` (which asserts on their reports) and
//! `perf/src/bin/reliability.rs` (which prints them for docs/RELIABILITY.md).
//!
//! Every scenario calls one cached function whose right answer is known
//! (`n * 7`), measures each call, and counts calls that did not return in 5 s
//! (failed) or returned another value (wrong).

use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_runtime::{cache_result, entry, Cache, Config};

use super::RedisServer;

/// What one call of the cached function costs by itself.
pub const WORK: Duration = Duration::from_millis(2);
/// A call that takes longer than this counts as failed.
const CALL_LIMIT: Duration = Duration::from_secs(5);
/// A call that adds more than this waited for a connection attempt (the
/// connect timeout is 500 ms): half of it, wide of any scheduling delay.
const WAITED: Duration = Duration::from_millis(250);

#[cache_result(expire = 300, store = cache, skip(cache, runs))]
pub async fn work(cache: &Cache, runs: &AtomicU64, n: u64) -> u64 {
    runs.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(WORK).await;
    n * 7
}

/// The figures of one scenario: one row of docs/RELIABILITY.md.
#[derive(Debug, Default)]
pub struct Report {
    pub scenario: &'static str,
    pub calls: u64,
    pub failed: u64,
    pub wrong: u64,
    /// The slowest call, less the function's own time (measured, see `work_alone`).
    pub worst_added: Duration,
    /// The median call, less the function's own time.
    pub median_added: Duration,
    /// Calls that added more than [`WAITED`]: they waited on Redis.
    pub waited: u64,
    /// From the end of the fault to the first hit, when there is one.
    pub resumed_after: Option<Duration>,
    /// Scenario-specific remarks.
    pub note: String,
}

impl Report {
    pub fn markdown_row(&self) -> String {
        let resumed = self
            .resumed_after
            .map_or("n/a".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        format!(
            "| {} | {} | {} | {} | {:.1} ms | {:.2} ms | {} | {} | {} |",
            self.scenario,
            self.calls,
            self.failed,
            self.wrong,
            millis(self.worst_added),
            millis(self.median_added),
            self.waited,
            resumed,
            self.note
        )
    }
}

/// The table's header, for the rows of [`Report::markdown_row`].
pub fn markdown_header() -> String {
    format!(
        "| fault | calls | failed | wrong | worst added latency | median added | \
         calls adding > {} ms | hits resume after | notes |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        WAITED.as_millis()
    )
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Calls and their latencies, from any number of tasks.
#[derive(Default)]
struct Tally {
    latencies: Mutex<Vec<Duration>>,
    failed: AtomicU64,
    wrong: AtomicU64,
}

impl Tally {
    async fn call(&self, cache: &Cache, runs: &AtomicU64, n: u64) {
        let started = Instant::now();
        match tokio::time::timeout(CALL_LIMIT, work(cache, runs, n)).await {
            Ok(value) if value == n * 7 => {}
            Ok(_) => {
                self.wrong.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.latencies.lock().unwrap().push(started.elapsed());
    }

    async fn report(&self, scenario: &'static str) -> Report {
        let mut latencies = self.latencies.lock().unwrap().clone();
        latencies.sort();
        let own = work_alone().await;
        let added = |d: Option<&Duration>| d.map_or(Duration::ZERO, |d| d.saturating_sub(own));
        Report {
            scenario,
            calls: latencies.len() as u64,
            failed: self.failed.load(Ordering::SeqCst),
            wrong: self.wrong.load(Ordering::SeqCst),
            worst_added: added(latencies.last()),
            median_added: added(latencies.get(latencies.len() / 2)),
            waited: latencies
                .iter()
                .filter(|&d| added(Some(d)) > WAITED)
                .count() as u64,
            ..Report::default()
        }
    }
}

/// What the function takes by itself on this machine (the timer rounds
/// `WORK` up): the median of 21 uncached runs. "Added" latency is on top.
async fn work_alone() -> Duration {
    let cache = Cache::disabled();
    let runs = AtomicU64::new(0);
    let mut times = Vec::new();
    for n in 0..21 {
        let started = Instant::now();
        work(&cache, &runs, n).await;
        times.push(started.elapsed());
    }
    times.sort();
    times[times.len() / 2]
}

/// `tasks` tasks calling keys 0..50 in turn until `stop` is set.
fn load(
    cache: &Cache,
    runs: &Arc<AtomicU64>,
    tally: &Arc<Tally>,
    stop: &Arc<AtomicBool>,
    tasks: u64,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..tasks)
        .map(|task| {
            let (cache, runs, tally, stop) =
                (cache.clone(), runs.clone(), tally.clone(), stop.clone());
            tokio::spawn(async move {
                let mut n = task;
                while !stop.load(Ordering::SeqCst) {
                    tally.call(&cache, &runs, n % 50).await;
                    n += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect()
}

/// Polls until a call is served from the cache: the same key twice, and the
/// second call did not run the function.
async fn time_to_first_hit(cache: &Cache, since: Instant) -> Option<Duration> {
    let runs = AtomicU64::new(0);
    while since.elapsed() < Duration::from_secs(15) {
        work(cache, &runs, 1_000_000).await;
        let before = runs.load(Ordering::SeqCst);
        work(cache, &runs, 1_000_000).await;
        if runs.load(Ordering::SeqCst) == before {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Nothing listens on the port: every connection is refused.
pub async fn never_started() -> Report {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = Config::redis(format!("redis://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let (tally, runs) = (Tally::default(), AtomicU64::new(0));
    for n in 0..200 {
        tally.call(&cache, &runs, n % 20).await;
    }
    let mut report = tally.report("never started (connection refused)").await;
    report.note = format!(
        "function ran {} times for {} calls",
        runs.load(Ordering::SeqCst),
        report.calls
    );
    report
}

/// Something accepts connections and never answers: the first call waits for
/// the connect timeout; then the breaker is open and its probes run in the
/// background: calls add no network wait.
pub async fn unresponsive() -> Report {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let cache = Config::redis(format!("redis://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let (tally, runs) = (Tally::default(), AtomicU64::new(0));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        tally.call(&cache, &runs, 1).await;
    }
    drop(listener);
    let mut report = tally.report("unresponsive (accepts, never answers)").await;
    report.note =
        "the first call waits the 500 ms connect timeout; later probes run in the background"
            .into();
    report
}

/// SIGKILL in the middle of a concurrent load, restart on the same port.
pub async fn killed_and_restarted() -> Report {
    let mut server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let (tally, runs, stop) = (
        Arc::new(Tally::default()),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let tasks = load(&cache, &runs, &tally, &stop, 16);

    tokio::time::sleep(Duration::from_secs(1)).await;
    server.stop(); // SIGKILL
    tokio::time::sleep(Duration::from_secs(1)).await;
    tokio::task::block_in_place(|| server.restart());
    let restarted = Instant::now();
    let resumed = time_to_first_hit(&cache, restarted).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let mut report = tally.report("killed (SIGKILL) under load, restarted").await;
    report.resumed_after = resumed;
    report.note = "16 tasks; 1 s up, 1 s down, then up".into();
    report
}

/// SIGSTOP under load, then SIGCONT.
pub async fn hung() -> Report {
    let server = RedisServer::start();
    let cache = Config::redis(server.url()).build().unwrap();
    let (tally, runs, stop) = (
        Arc::new(Tally::default()),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let tasks = load(&cache, &runs, &tally, &stop, 16);

    tokio::time::sleep(Duration::from_millis(500)).await;
    server.pause();
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.resume();
    let resumed_at = Instant::now();
    let resumed = time_to_first_hit(&cache, resumed_at).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let mut report = tally.report("hung (SIGSTOP 2 s, then SIGCONT)").await;
    report.resumed_after = resumed;
    report.note = "16 tasks; op timeout 50 ms".into();
    report
}

/// The server wants another password.
pub async fn wrong_password() -> Report {
    let server = RedisServer::start_with_password("right");
    let cache = Config::redis(format!("redis://:wrong@127.0.0.1:{}", server.port()))
        .build()
        .unwrap();
    let (tally, runs) = (Tally::default(), AtomicU64::new(0));
    for n in 0..200 {
        tally.call(&cache, &runs, n % 20).await;
    }
    tally.report("wrong password").await
}

/// Garbage at the function's key, one kind after another: each call must
/// recompute, return the right value and overwrite the garbage.
pub async fn garbage() -> Report {
    let server = RedisServer::start();
    let cache = Config::redis(server.url())
        .max_value_bytes(1024)
        .build()
        .unwrap();
    let (tally, runs) = (Tally::default(), AtomicU64::new(0));
    let key = entry!(work(&cache, &runs, 5)).key().unwrap().to_owned();
    let huge = format!("\"{}\"", "x".repeat(4096));
    let kinds: [(&str, &[&str]); 6] = [
        ("invalid JSON", &["SET", &key, "{not json"]),
        ("JSON of the wrong shape", &["SET", &key, r#"{"n":35}"#]),
        ("empty string", &["SET", &key, ""]),
        ("a hash (WRONGTYPE)", &["HSET", &key, "field", "35"]),
        ("a list (WRONGTYPE)", &["RPUSH", &key, "35"]),
        ("over max_value_bytes", &["SET", &key, &huge]),
    ];
    let mut overwritten = 0;
    for (_, command) in kinds {
        server.cli(&["DEL", &key]);
        server.cli(command);
        let before = runs.load(Ordering::SeqCst);
        tally.call(&cache, &runs, 5).await;
        let recomputed = runs.load(Ordering::SeqCst) == before + 1;
        let fixed = entry!(work(&cache, &runs, 5)).get().await.unwrap() == Some(35);
        overwritten += u64::from(recomputed && fixed);
    }
    let mut report = tally.report("garbage at the key").await;
    report.note = format!(
        "{overwritten} of {} kinds recomputed and overwritten: {}",
        kinds.len(),
        kinds
            .iter()
            .map(|(kind, _)| *kind)
            .collect::<Vec<_>>()
            .join(", ")
    );
    report
}
