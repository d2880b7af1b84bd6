//! The cost the attribute adds, measured against the same work written by
//! hand with redis-rs, in the same run, on the same kind of connection (one
//! shared multiplexed connection), against a redis-server of the bench's own.
//!
//! - `key/*`: deriving a key (JSON of the arguments, MD5, hex), no I/O.
//! - `hit/*`: a hit: the attribute vs `GET` + `serde_json::from_slice`.
//! - `hit_concurrent/<tasks>`: the same, `tasks` callers at once on one
//!   runtime, each on a key of its own (so that the attribute's coalescing
//!   of concurrent hits on one key does not flatter it); throughput in calls
//!   per second.
//! - `miss/*`: a cold key: the attribute vs `GET` + function + `SETEX`.
//! - `*/local`: the same hits answered by the in-process tier
//!   (`local = true`), against the Redis hits above.
//!
//! `cargo bench -p cache-perf --bench hit_path`; figures in docs/BENCHMARKS.md.

use cache_test_support as support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::redis::aio::ConnectionManager;
use cache_runtime::redis::AsyncCommands;
use cache_runtime::{cache_result, entry, Cache, Config};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::Serialize;
use support::payload::{profile, Profile};
use tokio::runtime::Runtime;

#[cache_result(expire = 600, store = cache, skip(cache))]
async fn cached_profile(cache: &Cache, id: u64) -> Profile {
    profile(id)
}

#[cache_result(expire = 600, store = cache, skip(cache), local = true)]
async fn local_profile(cache: &Cache, id: u64) -> Profile {
    profile(id)
}

#[derive(Serialize)]
pub struct Filter {
    tags: Vec<String>,
    owner: String,
    since: u64,
}

#[cache_result(expire = 600, store = cache, skip(cache))]
async fn search(cache: &Cache, query: &str, filter: &Filter, page: u32) -> Vec<u64> {
    let _ = (query, filter, page);
    Vec::new()
}

/// The hand-written equivalent of a hit.
async fn by_hand_hit(redis: &mut ConnectionManager, key: &str) -> Profile {
    let bytes: Vec<u8> = redis.get(key).await.expect("GET");
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The hand-written equivalent of a miss.
async fn by_hand_miss(redis: &mut ConnectionManager, key: &str, id: u64) -> Profile {
    let found: Option<Vec<u8>> = redis.get(key).await.expect("GET");
    assert!(found.is_none());
    let value = profile(id);
    let json = serde_json::to_vec(&value).expect("JSON");
    let _: () = redis.set_ex(key, json, 600).await.expect("SETEX");
    value
}

struct Setup {
    _server: support::RedisServer,
    runtime: Runtime,
    cache: Cache,
    redis: ConnectionManager,
    hit_key: String,
    /// The key of `cached_profile(id)` for ids 0..256, all stored.
    keys: Vec<String>,
}

fn setup() -> Setup {
    let server = support::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cache = Config::redis(server.url())
        .op_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let (redis, keys) = runtime.block_on(async {
        cache
            .ping()
            .await
            .expect("the bench's redis-server answers");
        let mut keys = Vec::new();
        for id in 0..256 {
            cached_profile(&cache, id).await;
            keys.push(entry!(cached_profile(&cache, id)).key().unwrap().to_owned());
        }
        // The in-process tier subscribes on first use; then every key is
        // read once from Redis into it.
        support::until_local_hit("local_profile", Duration::from_secs(5), || {
            local_profile(&cache, 0)
        })
        .await;
        for id in 0..256 {
            local_profile(&cache, id).await;
        }
        let client = cache_runtime::redis::Client::open(server.url()).unwrap();
        (ConnectionManager::new(client).await.unwrap(), keys)
    });
    Setup {
        _server: server,
        runtime,
        cache,
        redis,
        hit_key: keys[1].clone(),
        keys,
    }
}

fn keys(c: &mut Criterion) {
    let cache = Cache::embedded();
    let filter = Filter {
        tags: (0..50).map(|i| format!("tag-{i}")).collect(),
        owner: "someone@example.com".into(),
        since: 1_700_000_000,
    };
    let mut group = c.benchmark_group("key");
    group.bench_function("one_u64", |b| {
        b.iter(|| {
            entry!(cached_profile(&cache, std::hint::black_box(42)))
                .key()
                .map(str::len)
        })
    });
    group.bench_function("str_struct50_u32", |b| {
        b.iter(|| {
            entry!(search(
                &cache,
                std::hint::black_box("rust cache"),
                &filter,
                3
            ))
            .key()
            .map(str::len)
        })
    });
    group.finish();
}

fn hits(c: &mut Criterion) {
    let setup = setup();
    let mut group = c.benchmark_group("hit");
    group.bench_function("attribute", |b| {
        b.to_async(&setup.runtime)
            .iter(|| cached_profile(&setup.cache, 1))
    });
    group.bench_function("by_hand", |b| {
        b.to_async(&setup.runtime).iter(|| {
            let mut redis = setup.redis.clone();
            let key = &setup.hit_key;
            async move { by_hand_hit(&mut redis, key).await }
        })
    });
    group.bench_function("local", |b| {
        b.to_async(&setup.runtime)
            .iter(|| local_profile(&setup.cache, 1))
    });
    group.finish();

    let mut group = c.benchmark_group("hit_concurrent");
    for tasks in [1u64, 16, 64, 256] {
        let per_task = 64;
        group.throughput(Throughput::Elements(tasks * per_task));
        group.bench_with_input(BenchmarkId::new("attribute", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iterations| {
                concurrently(&setup.runtime, iterations, tasks, |task| {
                    let cache = setup.cache.clone();
                    async move {
                        for _ in 0..per_task {
                            cached_profile(&cache, task).await;
                        }
                    }
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("by_hand", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iterations| {
                concurrently(&setup.runtime, iterations, tasks, |task| {
                    let mut redis = setup.redis.clone();
                    let key = setup.keys[task as usize].clone();
                    async move {
                        for _ in 0..per_task {
                            by_hand_hit(&mut redis, &key).await;
                        }
                    }
                })
            })
        });
        group.bench_with_input(BenchmarkId::new("local", tasks), &tasks, |b, &tasks| {
            b.iter_custom(|iterations| {
                concurrently(&setup.runtime, iterations, tasks, |task| {
                    let cache = setup.cache.clone();
                    async move {
                        for _ in 0..per_task {
                            local_profile(&cache, task).await;
                        }
                    }
                })
            })
        });
    }
    group.finish();
}

/// `iterations` rounds of `tasks` tasks at once, each running `task(n)`;
/// the time of all rounds.
fn concurrently<F, Fut>(runtime: &Runtime, iterations: u64, tasks: u64, task: F) -> Duration
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            let handles: Vec<_> = (0..tasks).map(|n| tokio::spawn(task(n))).collect();
            for handle in handles {
                handle.await.unwrap();
            }
        }
        start.elapsed()
    })
}

fn misses(c: &mut Criterion) {
    let setup = setup();
    // Each iteration asks for a key no one has asked for.
    let next = AtomicU64::new(1_000_000);
    let mut group = c.benchmark_group("miss");
    group.bench_function("attribute", |b| {
        b.to_async(&setup.runtime).iter(|| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            cached_profile(&setup.cache, id)
        })
    });
    group.bench_function("by_hand", |b| {
        b.to_async(&setup.runtime).iter(|| {
            let id = next.fetch_add(1, Ordering::Relaxed);
            let mut redis = setup.redis.clone();
            async move {
                let key = format!("bench:by_hand:{id}");
                by_hand_miss(&mut redis, &key, id).await
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = keys, hits, misses
}
criterion_main!(benches);
