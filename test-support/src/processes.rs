//! Several OS processes against one redis-server: the binary that uses this
//! module starts copies of itself as workers (`CACHE_WORKER=<role>`), each
//! with its own connection, flights and leases, as separate service
//! instances would have. Shared by `tests/processes.rs` (which asserts) and
//! `perf/src/bin/stampede.rs` (which prints docs/BENCHMARKS.md's figures).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cache_runtime::{cache_result, Cache, Config};

/// What the cold function takes: long enough that every caller arrives
/// while the first run is still going.
pub const WORK: Duration = Duration::from_millis(500);

/// How callers of a cold key are protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// `coalesce = false`: every caller runs the function.
    None,
    /// The default: callers in one process share one run.
    Coalesce,
    /// `lock = true`: one run across processes.
    Lock,
}

impl Protection {
    fn name(self) -> &'static str {
        match self {
            Protection::None => "none",
            Protection::Coalesce => "coalesce",
            Protection::Lock => "lock",
        }
    }

    fn parse(name: &str) -> Self {
        match name {
            "none" => Protection::None,
            "coalesce" => Protection::Coalesce,
            _ => Protection::Lock,
        }
    }
}

#[cache_result(expire = 300, store = cache, skip(cache, runs), coalesce = false)]
async fn unprotected(cache: &Cache, runs: &AtomicU64, id: u64) -> u64 {
    runs.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(WORK).await;
    id * 3
}

#[cache_result(expire = 300, store = cache, skip(cache, runs))]
async fn coalesced(cache: &Cache, runs: &AtomicU64, id: u64) -> u64 {
    runs.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(WORK).await;
    id * 3
}

#[cache_result(expire = 300, store = cache, skip(cache, runs, work_ms), lock = true)]
async fn locked(cache: &Cache, runs: &AtomicU64, id: u64, work_ms: u64) -> u64 {
    runs.fetch_add(1, Ordering::SeqCst);
    println!("computing");
    tokio::time::sleep(Duration::from_millis(work_ms)).await;
    id * 3
}

/// The in-process tier's subject: what `source` holds when it runs, plus
/// `id`. Process A keeps a copy; process B evicts, overwrites or
/// invalidates its tag.
#[cache_result(expire = 300, store = cache, skip(cache, source), local = true, tags = ["current:{id}"])]
pub async fn current(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

/// The result of a group of workers: runs of the function and wrong results.
#[derive(Debug, Default)]
pub struct Tally {
    pub runs: u64,
    pub calls: u64,
    pub wrong: u64,
}

/// Runs the worker this process was started as, if it was; then the caller
/// should exit.
pub fn run_worker_if_asked() -> bool {
    let Ok(role) = std::env::var("CACHE_WORKER") else {
        return false;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a Tokio runtime");
    runtime.block_on(async {
        match role.as_str() {
            "stampede" => stampede_worker().await,
            "hold" => hold_worker().await,
            "counter" => counter_worker().await,
            "invalidate" => invalidate_worker().await,
            other => panic!("unknown worker role {other}"),
        }
    });
    true
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("worker needs {name}"))
}

fn number(name: &str) -> u64 {
    var(name).parse().expect("a number")
}

fn cache_from_env() -> Cache {
    Config::redis(var("REDIS_URL"))
        .lock_times(
            Duration::from_millis(number("LEASE_MS")),
            Duration::from_secs(30),
        )
        .build()
        .expect("valid URL")
}

/// `CALLERS` tasks call the cold key at `START_AT` (ms since the epoch).
async fn stampede_worker() {
    let cache = cache_from_env();
    let protection = Protection::parse(&var("PROTECTION"));
    let callers = number("CALLERS");
    let id = number("KEY_ID");
    let start_at = UNIX_EPOCH + Duration::from_millis(number("START_AT"));
    if let Ok(wait) = start_at.duration_since(SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let runs = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let (cache, runs) = (cache.clone(), runs.clone());
            tokio::spawn(async move {
                match protection {
                    Protection::None => unprotected(&cache, &runs, id).await,
                    Protection::Coalesce => coalesced(&cache, &runs, id).await,
                    Protection::Lock => locked(&cache, &runs, id, WORK.as_millis() as u64).await,
                }
            })
        })
        .collect();
    let mut wrong = 0;
    for task in tasks {
        wrong += u64::from(task.await.expect("no caller panics") != id * 3);
    }
    println!(
        "runs={} calls={callers} wrong={wrong}",
        runs.load(Ordering::SeqCst)
    );
}

/// One call of the locked function that takes `WORK_MS`; prints `computing`
/// when it holds the lease and runs, and its result at the end.
async fn hold_worker() {
    let cache = cache_from_env();
    let runs = AtomicU64::new(0);
    let id = number("KEY_ID");
    let result = locked(&cache, &runs, id, number("WORK_MS")).await;
    println!(
        "runs={} calls=1 wrong={}",
        runs.load(Ordering::SeqCst),
        u64::from(result != id * 3)
    );
}

/// `INCREMENTS` read-modify-write increments of the `counter` key, each
/// under the lock `counter`: `GET`, a pause, `SET` to one more. Without the
/// lock, concurrent workers would overwrite each other's increments.
async fn counter_worker() {
    use cache_runtime::redis::AsyncCommands;

    let cache = cache_from_env();
    let mut redis = cache.connection().await.expect("a connection");
    let increments = number("INCREMENTS");
    let lock = cache.lock("counter").wait(Duration::from_secs(60));
    for _ in 0..increments {
        let guard = lock.acquire().await.expect("the lock within 60 s");
        let count: u64 = redis
            .get::<_, Option<u64>>("counter")
            .await
            .unwrap()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(1)).await;
        let () = redis.set("counter", count + 1).await.unwrap();
        guard.release().await.expect("released while held");
    }
    println!("runs={increments} calls={increments} wrong=0");
}

/// `ACTION` (`evict`, `put` of `VALUE`, or `tag`: an invalidation of its
/// tag) on `current(KEY_ID)`'s entry; prints `done at=<microseconds since
/// the epoch>` once it returned.
async fn invalidate_worker() {
    let cache = cache_from_env();
    let (source, id) = (AtomicU64::new(0), number("KEY_ID"));
    let entry = cache_runtime::entry!(current(&cache, &source, id));
    match var("ACTION").as_str() {
        "evict" => drop(entry.evict().await.expect("evicted")),
        "tag" => {
            let tag = format!("current:{id}");
            cache.invalidate_tag(&tag).await.expect("invalidated");
        }
        // Another program's writes: plain commands on a connection of
        // their own, which this crate announces nothing about.
        raw @ ("set" | "del") => {
            use cache_runtime::redis::AsyncCommands;
            let key = entry.key().expect("a key").to_owned();
            let client = cache_runtime::redis::Client::open(var("REDIS_URL")).expect("a URL");
            let mut redis = client
                .get_multiplexed_async_connection()
                .await
                .expect("connected");
            let _: () = match raw {
                "set" => redis.set(key, number("VALUE")).await,
                _ => redis.del(key).await,
            }
            .expect("written");
        }
        _ => entry.put(&number("VALUE")).await.expect("put"),
    }
    println!("done at={}", micros_since_epoch(SystemTime::now()));
}

pub fn micros_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// Runs an `invalidate` worker and returns when its write was done.
pub fn invalidate_from_another_process(url: &str, settings: &[(&str, String)]) -> SystemTime {
    let worker = spawn("invalidate", url, settings);
    let output = worker.wait_with_output().expect("the worker runs");
    assert!(output.status.success(), "worker failed: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let micros: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("done at="))
        .and_then(|at| at.parse().ok())
        .unwrap_or_else(|| panic!("no `done` from the worker: {text}"));
    UNIX_EPOCH + Duration::from_micros(micros)
}

/// A worker process of this binary.
pub fn spawn(role: &str, url: &str, settings: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().expect("the current executable");
    let mut command = Command::new(exe);
    command
        .env("CACHE_WORKER", role)
        .env("REDIS_URL", url)
        .env("LEASE_MS", "3000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in settings {
        command.env(name, value);
    }
    command.spawn().expect("a worker process starts")
}

/// Waits for a worker and reads its tally line.
pub fn tally(child: Child) -> Tally {
    let output = child.wait_with_output().expect("the worker runs");
    assert!(output.status.success(), "worker failed: {output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .find(|line| line.starts_with("runs="))
        .unwrap_or_else(|| panic!("no tally from the worker: {text}"));
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    };
    Tally {
        runs: field("runs"),
        calls: field("calls"),
        wrong: field("wrong"),
    }
}

/// `processes` workers with `callers` each, all calling one cold key at the
/// same moment; their tallies summed.
pub fn cold_key(
    url: &str,
    processes: u64,
    callers: u64,
    protection: Protection,
    key_id: u64,
) -> Tally {
    let start_at = SystemTime::now() + Duration::from_millis(1500);
    let start_at = start_at.duration_since(UNIX_EPOCH).unwrap().as_millis();
    let workers: Vec<Child> = (0..processes)
        .map(|_| {
            spawn(
                "stampede",
                url,
                &[
                    ("PROTECTION", protection.name().to_owned()),
                    ("CALLERS", callers.to_string()),
                    ("KEY_ID", key_id.to_string()),
                    ("START_AT", start_at.to_string()),
                ],
            )
        })
        .collect();
    workers
        .into_iter()
        .map(tally)
        .fold(Tally::default(), |sum, t| Tally {
            runs: sum.runs + t.runs,
            calls: sum.calls + t.calls,
            wrong: sum.wrong + t.wrong,
        })
}

/// Waits until `child` prints `line` on its stdout; returns the rest of
/// its output's reader so the caller can keep the pipe.
pub fn wait_for_line(child: &mut Child, line: &str) -> BufReader<std::process::ChildStdout> {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reader = BufReader::new(stdout);
    let mut read = String::new();
    loop {
        read.clear();
        let bytes = reader
            .read_line(&mut read)
            .expect("read the worker's output");
        assert!(bytes > 0, "the worker ended before printing {line:?}");
        if read.trim() == line {
            return reader;
        }
    }
}
