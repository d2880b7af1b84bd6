//! The attribute against the other ways to cache a function in Redis, in
//! one run, against a redis-server of the bench's own:
//!
//! - `attribute`: `#[cache_result(expire = 600)]`;
//! - `by hand`: redis-rs `GET` + `serde_json::from_slice` on one shared
//!   `ConnectionManager`, the key made beforehand;
//! - `cached`: the `cached` crate's `#[concurrent_cached]` with its
//!   `AsyncRedisCache` (what a user of that crate writes for Redis);
//! - `local`: the attribute with `local = true` (the in-process tier).
//!
//! **Throughput, interleaved**: for each number of callers, with one key
//! shared by every caller and with a key per caller, each contender runs
//! 300 ms in turn, `ROUNDS` times over; printed: the medians of the
//! per-round ratios (alternating short runs cancel the machine's drifts).
//!
//! **Memory**: bytes allocated per call, for a hit and for a miss, counted
//! by this binary's allocator over sequential calls.
//!
//! `cargo bench -p cache-perf --bench contenders [-- <rounds> <callers,...>]`
//! (default 3 rounds; 1,4,16,64,256 callers). Figures in docs/BENCHMARKS.md.

use cache_test_support as support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use cache_perf::{median, throughput, Caller};
use cache_runtime::redis::aio::ConnectionManager;
use cache_runtime::redis::AsyncCommands;
use cache_runtime::{cache_result, entry, Cache, Config};
use cached::macros::concurrent_cached;
use cached::AsyncRedisCache;
use support::payload::{profile, Profile};

/// Counts the bytes this process allocates.
struct Counting;

static ALLOCATED: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size as u64, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The cache every attribute contender uses.
static CACHE: OnceLock<Cache> = OnceLock::new();
/// Where the `cached` crate's store connects.
static URL: OnceLock<String> = OnceLock::new();

#[cache_result(expire = 600, store = CACHE.get().unwrap())]
async fn attribute(id: u64) -> Profile {
    profile(id)
}

#[cache_result(expire = 600, store = CACHE.get().unwrap(), local = true)]
async fn local(id: u64) -> Profile {
    profile(id)
}

#[concurrent_cached(
    map_error = r##"|e| format!("{e:?}")"##,
    ty = "cached::AsyncRedisCache<u64, Profile>",
    create = r##" {
        AsyncRedisCache::builder("contenders:cached")
            .ttl(std::time::Duration::from_secs(600))
            .connection_string(URL.get().unwrap())
            .build()
            .await
            .expect("the cached crate's Redis store")
    } "##
)]
async fn with_cached(id: u64) -> Result<Profile, String> {
    Ok(profile(id))
}

/// The hand-written hit: `GET` and decode; on a miss, compute and `SETEX`.
async fn by_hand(redis: &mut ConnectionManager, key: &str, id: u64) -> Profile {
    let bytes: Option<Vec<u8>> = redis.get(key).await.expect("GET");
    match bytes {
        Some(bytes) => serde_json::from_slice(&bytes).expect("JSON"),
        None => {
            let value = profile(id);
            let json = serde_json::to_vec(&value).expect("JSON");
            let () = redis.set_ex(key, json, 600).await.expect("SETEX");
            value
        }
    }
}

struct Attribute(u64);
struct Local(u64);
struct Cached(u64);
struct ByHand(ConnectionManager, String, u64);

impl Caller for Attribute {
    async fn call(&mut self) {
        drop(std::hint::black_box(attribute(self.0).await));
    }
}

impl Caller for Local {
    async fn call(&mut self) {
        drop(std::hint::black_box(local(self.0).await));
    }
}

impl Caller for Cached {
    async fn call(&mut self) {
        drop(std::hint::black_box(
            with_cached(self.0).await.expect("cached"),
        ));
    }
}

impl Caller for ByHand {
    async fn call(&mut self) {
        drop(std::hint::black_box(
            by_hand(&mut self.0, &self.1, self.2).await,
        ));
    }
}

/// The key `by_hand` uses for `id`: the attribute's own.
fn key_of(id: u64) -> String {
    entry!(attribute(id)).key().expect("a key").to_owned()
}

/// Every contender's value for `ids`, stored (and the tier's copies kept).
async fn store(ids: impl Iterator<Item = u64>, redis: &mut ConnectionManager) {
    for id in ids {
        attribute(id).await;
        with_cached(id).await.expect("cached");
        by_hand(redis, &key_of(id), id).await;
        support::until_local_hit("local", Duration::from_secs(5), || local(id)).await;
    }
}

async fn compare(redis: &ConnectionManager, callers: u64, shared: bool, rounds: u64) -> [f64; 4] {
    let id = move |task: u64| if shared { 0 } else { task };
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        let attribute = throughput(callers, |task| Attribute(id(task))).await;
        let by_hand = throughput(callers, |task| {
            ByHand(redis.clone(), key_of(id(task)), id(task))
        })
        .await;
        let cached = throughput(callers, |task| Cached(id(task))).await;
        let local = throughput(callers, |task| Local(id(task))).await;
        let round = [
            attribute / by_hand,
            attribute / cached,
            local / attribute,
            attribute,
        ];
        for (all, ratio) in ratios.iter_mut().zip(round) {
            all.push(ratio);
        }
    }
    ratios.map(median)
}

/// Bytes allocated per call by `$call` (which may `.await`), over `$calls`
/// sequential calls, the n-th with `$n = n`.
macro_rules! bytes_per_call {
    ($calls:expr, $n:ident => $call:expr) => {{
        let before = ALLOCATED.load(Ordering::Relaxed);
        for $n in 0..$calls {
            drop(std::hint::black_box($call));
        }
        (ALLOCATED.load(Ordering::Relaxed) - before) as f64 / $calls as f64
    }};
}

async fn memory(redis: &ConnectionManager) {
    const CALLS: u64 = 2_000;
    // Misses on ids never used before, each contender its own range.
    let (attribute_miss, hand_miss, cached_miss) = (10_000_000, 20_000_000, 30_000_000);
    let mut redis = redis.clone();
    let hit_key = key_of(0);
    // By hand makes its keys beforehand.
    let miss_keys: Vec<String> = (0..CALLS).map(|n| key_of(hand_miss + n)).collect();
    let rows = [
        (
            "attribute",
            bytes_per_call!(CALLS, _n => attribute(0).await),
            bytes_per_call!(CALLS, n => attribute(attribute_miss + n).await),
        ),
        (
            "by hand",
            bytes_per_call!(CALLS, _n => by_hand(&mut redis, &hit_key, 0).await),
            bytes_per_call!(CALLS, n => {
                by_hand(&mut redis, &miss_keys[n as usize], hand_miss + n).await
            }),
        ),
        (
            "cached",
            bytes_per_call!(CALLS, _n => with_cached(0).await),
            bytes_per_call!(CALLS, n => with_cached(cached_miss + n).await),
        ),
        (
            "local",
            bytes_per_call!(CALLS, _n => local(0).await),
            f64::NAN,
        ),
    ];
    println!("\nbytes allocated per call (sequential, {CALLS} calls):");
    println!("| | hit | miss |\n| --- | --- | --- |");
    for (name, hit, miss) in rows {
        let miss = match miss.is_nan() {
            true => String::new(),
            false => format!("{miss:.0}"),
        };
        println!("| {name} | {hit:.0} | {miss} |");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the rest are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let rounds = args.first().and_then(|n| n.parse().ok()).unwrap_or(3);
    let callers: Vec<u64> = args
        .get(1)
        .map(|list| list.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 4, 16, 64, 256]);
    let server = support::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        URL.set(server.url()).expect("set once");
        CACHE
            .set(Config::redis(server.url()).build().expect("a cache"))
            .unwrap_or_else(|_| panic!("set once"));
        let client = cache_runtime::redis::Client::open(server.url()).expect("a URL");
        let mut redis = ConnectionManager::new(client).await.expect("connected");
        let most = callers.iter().copied().max().unwrap_or(1);
        store(0..most, &mut redis).await;
        println!("{rounds} rounds of 4 x 300 ms per row; medians of the per-round ratios");
        println!("| callers | key | attribute hits/s | attribute / by hand | attribute / cached | local / attribute |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for &n in &callers {
            for shared in [true, false] {
                let [by_hand, cached, local, attribute] = compare(&redis, n, shared, rounds).await;
                let key = match shared {
                    true => "one shared key",
                    false => "a key per caller",
                };
                println!(
                    "| {n} | {key} | {attribute:.0} | {by_hand:.2} | {cached:.2} | {local:.1}x |"
                );
            }
        }
        memory(&redis).await;
    });
}
