//! What a hit costs, two ways that hold up on a shared, noisy machine.
//! Starts its own redis-server and stores the values first.
//!
//! **Instructions per call**, for `valgrind --tool=callgrind` (counts are
//! repeatable where times are not): `hit_costs <kind> <N>` makes `N` calls
//! of one kind:
//!
//! - `attribute`: a Redis hit through `#[cache_result]`;
//! - `attribute_tagged`: the same, of a function with two tags (its tokens
//!   read in the same round trip);
//! - `attribute_refreshing`: the same, of a function with `early_refresh`
//!   and owned arguments (its body made only on a miss, its refresh in a
//!   task), far from expiry;
//! - `attribute_big_body`: the same, of a function whose body holds 2 KB
//!   across an await (the call's box must not grow with it);
//! - `by_hand`: `GET` + `serde_json::from_slice` on a `ConnectionManager`,
//!   the key made beforehand;
//! - `by_hand_keyed`: the same, with the key derived per call as
//!   hand-written code would derive the library's key (`serde_json::to_vec`
//!   of `[identity, type, id]`, MD5, `format!`): the same work as the
//!   attribute's;
//! - `local`: a hit from the in-process tier (`local = true`);
//! - `local_by_hand`: the floor of any in-process hit, a `get` (the value
//!   cloned) on the tier's own map, `quick_cache`, keyed by the id;
//! - `attribute_miss`, `by_hand_miss`: a miss each call (a key no call
//!   asked for): through the attribute, and by hand (`GET`, the function,
//!   `SETEX`, the key derived as `by_hand_keyed` does);
//! - `none`: no calls (the fixed cost, to subtract).
//!
//! ```text
//! cargo build --release -p cache-perf --bin hit_costs
//! for n in 1000 21000; do
//!   valgrind --tool=callgrind --callgrind-out-file=cg.attribute.$n \
//!     target/release/hit_costs attribute $n
//! done   # (total at 21000 - total at 1000) / 20000 = instructions per call
//! ```
//!
//! **Throughput, interleaved**: `hit_costs compare <tasks> <rounds>` runs
//! `tasks` tasks (each on a key of its own) for 300 ms through the
//! attribute, then by hand, by hand keyed, the in-process tier, its floor
//! by hand, and the attribute with batched reads off (`unbatched`: what
//! batching buys at that depth), `rounds` times over, and prints each
//! round's ratios and their medians. Alternating short runs cancel the
//! machine's slow drifts, which criterion's one-after-the-other groups
//! cannot.
//!
//! **Sequential, paired**: `hit_costs paired <rounds>`: one caller, one
//! call of each Redis kind per round (`attribute`, `by_hand`,
//! `by_hand_keyed`, `attribute_miss`, `by_hand_miss`, and `by_hand` under
//! a `tokio::time::timeout` as long as the attribute's operation timeout)
//! in an order shuffled each round, each hand-written kind on a connection
//! of its own (the attribute's hit and miss share the cache's), each call
//! timed. Every kind meets the same moments of the machine, whose drifts
//! dwarf a few percent over seconds, and none always follows the same
//! other kind (a call that follows one on the same connection was found
//! 1-3 us faster). Prints each kind's median and mean time per call, and
//! the ratios.
//!
//! **CPU per call under load**: `hit_costs spin <kind> <tasks> <calls>`, a
//! kind above or `unbatched` (`Config::batch_reads(false)`), makes `calls`
//! calls in each of `tasks` tasks, after printing
//! `ready` to stderr; `perf stat -e task-clock -p <pid>` on it and on its
//! redis-server gives the client's and the server's CPU time per call.
//!
//! Figures in docs/BENCHMARKS.md.

use cache_test_support as support;

use std::sync::Arc;
use std::time::Duration;

use cache_perf::{median, throughput, Caller};
use cache_runtime::redis::aio::ConnectionManager;
use cache_runtime::redis::AsyncCommands;
use cache_runtime::{cache_result, entry, Cache, Config};
use support::payload::{profile, Profile};

/// The in-process floor: the values by id in a plain concurrent map.
type Floor = Arc<quick_cache::sync::Cache<u64, Profile>>;

fn floor(ids: u64) -> Floor {
    let map = quick_cache::sync::Cache::new(ids.max(1) as usize);
    for id in 0..ids {
        map.insert(id, profile(id));
    }
    Arc::new(map)
}

#[cache_result(expire = 600, store = cache, skip(cache))]
async fn from_redis(cache: &Cache, id: u64) -> Profile {
    profile(id)
}

#[cache_result(expire = 600, store = cache, skip(cache), local = true)]
async fn from_local(cache: &Cache, id: u64) -> Profile {
    profile(id)
}

#[cache_result(expire = 600, store = cache, skip(cache), tags = ["profile:{id}", "profiles"])]
async fn from_redis_tagged(cache: &Cache, id: u64) -> Profile {
    profile(id)
}

/// The cache of `from_redis_refreshing`, whose arguments must all be owned.
static REFRESHING: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();

#[cache_result(expire = 600, early_refresh = true, store = REFRESHING.get().unwrap())]
async fn from_redis_refreshing(id: u64) -> Profile {
    profile(id)
}

/// A function whose body holds 2 KB across an await, as a query's future
/// does: its hits should cost what `from_redis`'s cost.
#[cache_result(expire = 600, store = cache, skip(cache))]
async fn from_redis_big_body(cache: &Cache, id: u64) -> Profile {
    let buffer = [id as u8; 2048];
    tokio::task::yield_now().await;
    std::hint::black_box(&buffer);
    profile(id)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "none".into());
    let number = |arg: Option<String>, default| arg.and_then(|n| n.parse().ok()).unwrap_or(default);
    let server = support::RedisServer::start();
    if mode == "spin" {
        let kind = args.next().unwrap_or_else(|| "attribute".into());
        let tasks = number(args.next(), 64);
        let calls = number(args.next(), 10_000);
        return two_workers().block_on(spin(&server, &kind, tasks, calls));
    }
    if mode == "paired" {
        let calls = number(args.next(), 20_000);
        return two_workers().block_on(paired(&server, calls));
    }
    if mode == "compare" {
        let tasks = number(args.next(), 64);
        let rounds = number(args.next(), 10);
        return two_workers().block_on(compare(&server, tasks, rounds));
    }
    let calls = number(args.next(), 1000);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(count(&server, &mode, calls));
}

fn two_workers() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A cache and a hand-written connection to `server`, with the values of
/// ids `0..ids` stored; their keys, by id.
async fn stored(
    server: &support::RedisServer,
    ids: u64,
) -> (Cache, ConnectionManager, Arc<Vec<String>>) {
    let cache = Config::redis(server.url()).build().unwrap();
    let redis = connection(server).await;
    let mut keys = Vec::new();
    for id in 0..ids {
        from_redis(&cache, id).await;
        keys.push(entry!(from_redis(&cache, id)).key().unwrap().to_owned());
        assert_eq!(key_by_hand(id), keys[id as usize], "the same key by hand");
    }
    (cache, redis, Arc::new(keys))
}

/// A hand-written connection to `server`.
async fn connection(server: &support::RedisServer) -> ConnectionManager {
    let client = cache_runtime::redis::Client::open(server.url()).unwrap();
    ConnectionManager::new(client).await.unwrap()
}

/// The key of `from_redis(id)` as hand-written code would derive it.
fn key_by_hand(id: u64) -> String {
    use md5::Digest;
    use std::fmt::Write;
    let identity = "hit_costs::from_redis";
    let json = serde_json::to_vec(&(identity, std::any::type_name::<Profile>(), id)).unwrap();
    let mut key = format!("cache:{identity}:");
    for byte in md5::Md5::digest(&json) {
        write!(key, "{byte:02x}").unwrap();
    }
    key
}

/// The same hit written by hand: `GET` and decode.
async fn by_hand(redis: &mut ConnectionManager, key: &str) -> Profile {
    let bytes: Vec<u8> = redis.get(key).await.unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The same miss written by hand: `GET`, the function, `SETEX`.
async fn by_hand_miss(redis: &mut ConnectionManager, key: &str, id: u64) -> Profile {
    let found: Option<Vec<u8>> = redis.get(key).await.unwrap();
    assert!(found.is_none(), "a miss");
    let value = profile(id);
    let json = serde_json::to_vec(&value).unwrap();
    let _: () = redis.set_ex(key, json, 600).await.unwrap();
    value
}

async fn count(server: &support::RedisServer, mode: &str, calls: u64) {
    let (cache, mut redis, keys) = stored(server, 2).await;
    // Until the in-process tier has subscribed and holds the value.
    support::until_local_hit("from_local", Duration::from_secs(5), || {
        from_local(&cache, 1)
    })
    .await;
    let by_hand_local = floor(2);
    if mode == "attribute_big_body" {
        // Its miss, outside the counted calls.
        from_redis_big_body(&cache, 1).await;
    }
    if mode == "attribute_tagged" {
        from_redis_tagged(&cache, 1).await;
    }
    if mode == "attribute_refreshing" {
        REFRESHING.get_or_init(|| cache.clone());
        from_redis_refreshing(1).await;
    }
    for call in 0..calls {
        // Ids no call has asked for: each a miss.
        let fresh = 1_000_000 + call;
        match mode {
            "attribute" => drop(std::hint::black_box(from_redis(&cache, 1).await)),
            "attribute_big_body" => {
                drop(std::hint::black_box(from_redis_big_body(&cache, 1).await))
            }
            "attribute_tagged" => drop(std::hint::black_box(from_redis_tagged(&cache, 1).await)),
            "attribute_refreshing" => drop(std::hint::black_box(from_redis_refreshing(1).await)),
            "local" => drop(std::hint::black_box(from_local(&cache, 1).await)),
            "local_by_hand" => drop(std::hint::black_box(by_hand_local.get(&1))),
            "by_hand" => drop(std::hint::black_box(by_hand(&mut redis, &keys[1]).await)),
            "by_hand_keyed" => {
                let key = key_by_hand(1);
                drop(std::hint::black_box(by_hand(&mut redis, &key).await))
            }
            "attribute_miss" => drop(std::hint::black_box(from_redis(&cache, fresh).await)),
            "by_hand_miss" => {
                let key = key_by_hand(fresh);
                drop(std::hint::black_box(
                    by_hand_miss(&mut redis, &key, fresh).await,
                ))
            }
            _ => {}
        }
    }
}

/// `tasks` tasks making `calls` calls each of one kind, for `perf stat`.
async fn spin(server: &support::RedisServer, kind: &str, tasks: u64, calls: u64) {
    let (cache, redis, keys) = stored(server, tasks).await;
    // `unbatched`: the attribute with every read its own `GET`.
    let cache = match kind {
        "unbatched" => Config::redis(server.url())
            .batch_reads(false)
            .build()
            .unwrap(),
        _ => cache,
    };
    if kind == "local" {
        for id in 0..tasks {
            support::until_local_hit("from_local", Duration::from_secs(5), || {
                from_local(&cache, id)
            })
            .await;
        }
    }
    let floor = floor(tasks);
    eprintln!("ready");
    std::thread::sleep(Duration::from_secs(1));
    let started = std::time::Instant::now();
    match kind {
        "by_hand" => {
            spin_each(tasks, calls, |id| {
                ByHand(redis.clone(), keys[id as usize].clone())
            })
            .await
        }
        "by_hand_keyed" => spin_each(tasks, calls, |id| ByHandKeyed(redis.clone(), id)).await,
        "local" => spin_each(tasks, calls, |id| FromLocal(cache.clone(), id)).await,
        "local_by_hand" => spin_each(tasks, calls, |id| LocalByHand(floor.clone(), id)).await,
        _ => spin_each(tasks, calls, |id| FromRedis(cache.clone(), id)).await,
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{kind}: {:.0} calls/s",
        (tasks * calls) as f64 / elapsed.as_secs_f64()
    );
}

/// `calls` calls in each of `tasks` tasks.
async fn spin_each<C: Caller>(tasks: u64, calls: u64, caller: impl Fn(u64) -> C) {
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let mut caller = caller(task);
            tokio::spawn(async move {
                for _ in 0..calls {
                    caller.call().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
}

struct FromRedis(Cache, u64);
struct FromLocal(Cache, u64);
struct ByHand(ConnectionManager, String);
struct ByHandKeyed(ConnectionManager, u64);
struct LocalByHand(Floor, u64);

impl Caller for FromRedis {
    async fn call(&mut self) {
        drop(from_redis(&self.0, self.1).await);
    }
}

impl Caller for FromLocal {
    async fn call(&mut self) {
        drop(from_local(&self.0, self.1).await);
    }
}

impl Caller for ByHand {
    async fn call(&mut self) {
        drop(by_hand(&mut self.0, &self.1).await);
    }
}

impl Caller for ByHandKeyed {
    async fn call(&mut self) {
        let key = key_by_hand(self.1);
        drop(by_hand(&mut self.0, &key).await);
    }
}

impl Caller for LocalByHand {
    async fn call(&mut self) {
        drop(std::hint::black_box(self.0.get(&self.1)));
        // As a local hit does (`Io::cooperate`): a task that never yields
        // would starve the others.
        tokio::task::consume_budget().await;
    }
}

/// The cache's default operation timeout, for the timed hand-written kind.
const OP_TIMEOUT: Duration = Duration::from_millis(50);

/// One caller; the Redis kinds in a shuffled order each round, each call
/// timed. Each hand-written kind has a connection of its own, so that no
/// kind's call finds its connection warmer than another's; the
/// attribute's hit and miss go through the cache's.
async fn paired(server: &support::RedisServer, rounds: u64) {
    const KINDS: [&str; 6] = [
        "attribute",
        "by hand",
        "by hand keyed",
        "attribute miss",
        "by hand timed",
        "by hand miss",
    ];
    let (cache, redis, keys) = stored(server, 1).await;
    let mut redis = [
        redis,
        connection(server).await,
        connection(server).await,
        connection(server).await,
    ];
    let mut times: [Vec<Duration>; KINDS.len()] = Default::default();
    let mut order = [0, 1, 2, 3, 4, 5];
    let mut random = 0x9e37_79b9_7f4a_7c15_u64;
    for round in 0..rounds {
        shuffle(&mut order, &mut random);
        // Ids no call has asked for: the misses' keys.
        let (fresh, fresh_by_hand) = (1_000_000 + round, 1_000_000_000 + round);
        for kind in order {
            let started = std::time::Instant::now();
            match kind {
                0 => drop(std::hint::black_box(from_redis(&cache, 0).await)),
                1 => drop(std::hint::black_box(by_hand(&mut redis[0], &keys[0]).await)),
                2 => {
                    let key = key_by_hand(0);
                    drop(std::hint::black_box(by_hand(&mut redis[1], &key).await))
                }
                3 => drop(std::hint::black_box(from_redis(&cache, fresh).await)),
                4 => {
                    // Under a timer, as the attribute's operation timeout is.
                    let timed = tokio::time::timeout(OP_TIMEOUT, by_hand(&mut redis[3], &keys[0]));
                    drop(std::hint::black_box(timed.await))
                }
                _ => {
                    let key = key_by_hand(fresh_by_hand);
                    let miss = by_hand_miss(&mut redis[2], &key, fresh_by_hand);
                    drop(std::hint::black_box(miss.await))
                }
            }
            times[kind].push(started.elapsed());
        }
    }
    let us = |time: Duration| time.as_secs_f64() * 1e6;
    let [attribute, by_hand, keyed, miss, timed, miss_by_hand] = times.map(|mut times| {
        let mean = us(times.iter().sum::<Duration>()) / times.len() as f64;
        times.sort();
        (us(times[times.len() / 2]), mean)
    });
    println!("{rounds} rounds, one caller; us per call, median / mean:");
    let all = [attribute, by_hand, keyed, miss, timed, miss_by_hand];
    for (name, (median, mean)) in KINDS.iter().zip(all) {
        println!("  {name:<22} {median:>7.2} / {mean:>7.2}");
    }
    // Throughput ratios: the times' inverse.
    println!(
        "attribute/by hand {:.3} / {:.3}, attribute/keyed {:.3} / {:.3}",
        by_hand.0 / attribute.0,
        by_hand.1 / attribute.1,
        keyed.0 / attribute.0,
        keyed.1 / attribute.1,
    );
    println!(
        "attribute miss/by hand miss {:.3} / {:.3}",
        miss_by_hand.0 / miss.0,
        miss_by_hand.1 / miss.1,
    );
}

/// Fisher-Yates with xorshift: an order that no kind can settle into.
fn shuffle(order: &mut [usize], state: &mut u64) {
    for last in (1..order.len()).rev() {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        order.swap(last, (*state % (last as u64 + 1)) as usize);
    }
}

async fn compare(server: &support::RedisServer, tasks: u64, rounds: u64) {
    let (cache, redis, keys) = stored(server, tasks).await;
    support::until_local_hit("from_local", Duration::from_secs(5), || {
        from_local(&cache, 0)
    })
    .await;
    let by_hand_local = floor(tasks);
    // The attribute with every read its own `GET`: what batching buys.
    let unbatched_cache = Config::redis(server.url())
        .batch_reads(false)
        .build()
        .unwrap();
    let mut ratios: [Vec<f64>; 6] = Default::default();
    println!("{tasks} tasks, {rounds} rounds of 6 x 300 ms; calls/s");
    for _ in 0..rounds {
        let attribute = throughput(tasks, |id| FromRedis(cache.clone(), id)).await;
        let by_hand =
            throughput(tasks, |id| ByHand(redis.clone(), keys[id as usize].clone())).await;
        let keyed = throughput(tasks, |id| ByHandKeyed(redis.clone(), id)).await;
        let local = throughput(tasks, |id| FromLocal(cache.clone(), id)).await;
        let floor = throughput(tasks, |id| LocalByHand(by_hand_local.clone(), id)).await;
        let unbatched = throughput(tasks, |id| FromRedis(unbatched_cache.clone(), id)).await;
        let round = [
            attribute / by_hand,
            attribute / keyed,
            local / attribute,
            local / floor,
            // What any in-process map that hands out clones reaches.
            floor / attribute,
            attribute / unbatched,
        ];
        println!(
            "  attribute {attribute:>8.0}  by hand {by_hand:>8.0}  keyed {keyed:>8.0}  \
             local {local:>9.0}  local by hand {floor:>9.0}  attribute/by hand {:.2}  \
             attribute/keyed {:.2}  local/attribute {:.1}  local/local by hand {:.2}  \
             local by hand/attribute {:.1}  attribute/unbatched {:.2}",
            round[0], round[1], round[2], round[3], round[4], round[5]
        );
        for (all, ratio) in ratios.iter_mut().zip(round) {
            all.push(ratio);
        }
    }
    let [by_hand, keyed, local, floor, floor_multiple, batching] = ratios.map(median);
    println!(
        "median: attribute/by hand {by_hand:.2}, attribute/keyed {keyed:.2}, \
         local/attribute {local:.1}, local/local by hand {floor:.2}, \
         local by hand/attribute {floor_multiple:.1}, attribute/unbatched {batching:.2}"
    );
}
