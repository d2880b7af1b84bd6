//! The attribute and the runtime on a real Redis Cluster: 3 masters and 3
//! replicas, started and formed by each test (`support::cluster`).
//!
//! Every test uses its own cluster and its own functions, so counts are the
//! test's alone.

use cache_test_support as support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::redis::AsyncCommands;
use cache_runtime::{cache_result, entry, function, Cache, Config, StoreKind};

use serde::{Deserialize, Serialize};
use support::cluster::RedisCluster;

fn cache_for(cluster: &RedisCluster) -> Cache {
    // Generous timeouts: six debug-build nodes share two cores with the test.
    Config::cluster(cluster.urls())
        .connect_timeout(Duration::from_secs(5))
        .op_timeout(Duration::from_secs(2))
        .build()
        .expect("valid cluster URLs")
}

fn runs(calls: &AtomicUsize) -> usize {
    calls.load(Ordering::SeqCst)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    id: u64,
    name: String,
    tags: Vec<String>,
    manager: Option<u64>,
}

mod foundation {
    use super::*;

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn profile(cache: &Cache, calls: &AtomicUsize, id: u64) -> Profile {
        calls.fetch_add(1, Ordering::SeqCst);
        Profile {
            id,
            name: format!("user {id}"),
            tags: vec!["a".into(), "b".into()],
            manager: id.is_multiple_of(2).then_some(id / 2),
        }
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    fn square(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        n * n
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hits_misses_ttl_and_json_values_with_keys_on_every_master() {
        let cluster = RedisCluster::start();
        let cache = cache_for(&cluster);
        assert_eq!(cache.kind(), StoreKind::RedisCluster);
        let calls = AtomicUsize::new(0);

        for id in 0..120 {
            assert_eq!(profile(&cache, &calls, id).await.id, id);
        }
        assert_eq!(runs(&calls), 120, "every first call misses");
        for id in 0..120 {
            let value = profile(&cache, &calls, id).await;
            assert_eq!(value.name, format!("user {id}"));
            assert_eq!(value.manager, id.is_multiple_of(2).then_some(id / 2));
        }
        assert_eq!(runs(&calls), 120, "every second call hits");

        // The keys are spread over every master.
        for master in cluster.masters() {
            let held: u64 = master.cli(&["DBSIZE"]).parse().unwrap();
            assert!(held > 10, "master {} holds {held} keys", master.port());
        }

        // The value is the function's JSON, with the entry's TTL.
        let entry = entry!(profile(&cache, &calls, 7));
        let key = entry.key().unwrap().to_owned();
        let raw = cache.get_raw(&key).await.unwrap().expect("stored");
        let json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(json["name"], "user 7");
        let ttl = cache.ttl(&key).await.unwrap().expect("a TTL");
        assert!(
            ttl > Duration::from_secs(40) && ttl <= Duration::from_secs(60),
            "{ttl:?}"
        );
        let on_master: u64 = cluster.master_of(&key).cli(&["TTL", &key]).parse().unwrap();
        assert!(
            (40..=60).contains(&on_master),
            "the TTL is set on the master that holds the key: {on_master}"
        );

        // The blocking path (sync functions) uses a cluster connection too.
        let squares = AtomicUsize::new(0);
        let blocking = tokio::task::spawn_blocking({
            let cache = cache.clone();
            move || {
                let first: Vec<u64> = (0..30).map(|n| square(&cache, &squares, n)).collect();
                let again: Vec<u64> = (0..30).map(|n| square(&cache, &squares, n)).collect();
                (first, again, runs(&squares))
            }
        });
        let (first, again, square_runs) = blocking.await.unwrap();
        assert_eq!(first, again);
        assert_eq!(square_runs, 30);
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn outliving(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        n
    }

    /// A cluster connection's driver is a task of the runtime that opened
    /// it, and it never reconnects: a cache that outlives that runtime (a
    /// test's, a `block_on` at start-up) must open another, not fail every
    /// call from then on.
    #[test]
    fn a_cache_outlives_the_runtime_that_connected_it() {
        let cluster = RedisCluster::start();
        let cache = cache_for(&cluster);
        let calls = AtomicUsize::new(0);

        for _ in 0..3 {
            assert_eq!(
                support::current_thread_runtime().block_on(outliving(&cache, &calls, 5)),
                5
            );
        }

        assert_eq!(runs(&calls), 1, "the later runtimes' calls are hits");
        let stats = support::stats_of("foundation::outliving");
        assert_eq!(stats.errors, 0, "{stats:?}");
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn label(cache: &Cache, calls: &AtomicUsize, id: u64) -> String {
        calls.fetch_add(1, Ordering::SeqCst);
        format!("label {id}")
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls))]
    async fn other(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn evict_put_and_clear_reach_every_master() {
        let cluster = RedisCluster::start();
        let cache = Config::redis(cluster.cluster_url())
            .op_timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("the cluster URL form");
        assert_eq!(cache.kind(), StoreKind::RedisCluster);
        let calls = AtomicUsize::new(0);
        for id in 0..60 {
            label(&cache, &calls, id).await;
            other(&cache, &calls, id).await;
        }
        assert_eq!(runs(&calls), 120);

        assert!(entry!(label(&cache, &calls, 1)).evict().await.unwrap());
        entry!(label(&cache, &calls, 2))
            .put(&"written through".to_owned())
            .await
            .unwrap();
        assert_eq!(label(&cache, &calls, 1).await, "label 1");
        assert_eq!(label(&cache, &calls, 2).await, "written through");
        assert_eq!(runs(&calls), 121, "evicted entry ran again, put one hit");

        // Clearing one function scans every master and leaves the other's keys.
        assert_eq!(function!(label).clear_in(&cache).await.unwrap(), 60);
        let left = cluster.keys();
        assert_eq!(left.len(), 60, "{left:?}");
        assert!(left.iter().all(|key| key.contains("other")), "{left:?}");
        let masters_with_keys: BTreeSet<u16> = cluster
            .masters()
            .into_iter()
            .filter(|master| master.cli(&["DBSIZE"]) != "0")
            .map(|master| master.port())
            .collect();
        assert_eq!(masters_with_keys.len(), 3);

        // Clearing the prefix empties the cluster of this cache's keys.
        assert_eq!(cache.clear().await.unwrap(), 60);
        assert!(cluster.keys().is_empty());
        let before = runs(&calls);
        label(&cache, &calls, 5).await;
        other(&cache, &calls, 5).await;
        assert_eq!(runs(&calls), before + 2);
    }
}

mod features {
    use super::*;

    #[cache_result(expire = 60, store = cache, skip(cache, calls), lock = true)]
    async fn locked(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        id * 10
    }

    /// The stampede lease (`<key>:lease`) may live in another slot than its
    /// entry: the claim is sent as two concurrent commands on a cluster.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stampede_lease_gives_one_run_across_clients() {
        let cluster = RedisCluster::start();
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _client in 0..4 {
            let cache = cache_for(&cluster);
            for _ in 0..16 {
                let (cache, calls) = (cache.clone(), calls.clone());
                tasks.push(tokio::spawn(async move { locked(&cache, &calls, 4).await }));
            }
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 40);
        }
        assert_eq!(runs(&calls), 1, "4 clients x 16 callers, one run");
    }

    #[cache_result(expire = 60, store = cache, skip(cache, source), local = true)]
    async fn tracked(cache: &Cache, source: &AtomicUsize, id: u64) -> u64 {
        source.load(Ordering::SeqCst) as u64 + id
    }

    /// Ids of `tracked` whose keys live on each master, one per master.
    fn one_id_per_master(cluster: &RedisCluster, cache: &Cache) -> Vec<(u64, String)> {
        let source = AtomicUsize::new(0);
        let mut ports = BTreeSet::new();
        let mut ids = Vec::new();
        for id in 0.. {
            let key = entry!(tracked(cache, &source, id))
                .key()
                .unwrap()
                .to_owned();
            if ports.insert(cluster.master_of(&key).port()) {
                ids.push((id, key));
            }
            if ports.len() == cluster.masters().len() {
                return ids;
            }
        }
        unreachable!()
    }

    /// Calls `tracked(id)` until it returns `fresh`, within a second of a
    /// write.
    async fn fresh_within_a_second(cache: &Cache, source: &AtomicUsize, id: u64, fresh: u64) {
        let written = Instant::now();
        while tracked(cache, source, id).await != fresh {
            assert!(
                written.elapsed() < Duration::from_secs(1),
                "id {id}: the copy outlived the write"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Each master reports writes to its own keys: a plain `SET` on every
    /// master (another program's, announced by nobody) reaches the tier.
    /// Then one master's notice connection is killed: the tier goes off at
    /// once (a write made meanwhile leaves no copy behind) and comes back.
    /// Then that master dies: the tier listens to the replica that takes
    /// over, whose writes reach it too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_on_every_master_reach_the_tier_through_failover() {
        let mut cluster = RedisCluster::start();
        let cache = cache_for(&cluster);
        let source = AtomicUsize::new(100);
        let ids = one_id_per_master(&cluster, &cache);
        for (n, (id, key)) in ids.iter().enumerate() {
            support::until_local_hit("tracked", Duration::from_secs(10), || {
                tracked(&cache, &source, *id)
            })
            .await;
            let value = 1_000 + n as u64;
            cluster
                .master_of(key)
                .cli(&["SET", key, &value.to_string()]);
            fresh_within_a_second(&cache, &source, *id, value).await;
        }

        let (id, key) = &ids[0];
        support::until_local_hit("tracked", Duration::from_secs(10), || {
            tracked(&cache, &source, *id)
        })
        .await;
        let master = cluster.master_of(key);
        master.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        master.cli(&["SET", key, "2000"]);
        fresh_within_a_second(&cache, &source, *id, 2000).await;

        let victim_port = cluster.master_of(key).port();
        let victim = cluster
            .nodes
            .iter()
            .position(|node| node.port() == victim_port)
            .unwrap();
        cluster.nodes[victim].stop();
        tokio::task::block_in_place(|| cluster.wait_until_serving(Duration::from_secs(30)));
        support::until_local_hit("tracked", Duration::from_secs(10), || {
            tracked(&cache, &source, *id)
        })
        .await;
        let promoted = cluster.master_of(key);
        assert_ne!(promoted.port(), victim_port);
        promoted.cli(&["SET", key, "3000"]);
        fresh_within_a_second(&cache, &source, *id, 3000).await;
    }

    /// A failover that leaves the old master up (`CLUSTER FAILOVER` on a
    /// replica) while another master's notices keep the listener busy: the
    /// tier listens to the promoted replica within two heartbeats, and a
    /// write there reaches it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_tier_follows_a_failover_that_breaks_no_connection() {
        let cluster = RedisCluster::start();
        let cache = cache_for(&cluster);
        let source = AtomicUsize::new(100);
        let ids = one_id_per_master(&cluster, &cache);
        // The listener's first connection goes to the lowest address: keep
        // that master busy, and fail another one over.
        let mut by_port: Vec<_> = ids
            .iter()
            .map(|(id, key)| (cluster.master_of(key).port(), *id, key.clone()))
            .collect();
        by_port.sort();
        let (busy_port, _, busy_key) = by_port[0].clone();
        let (moved_port, id, key) = by_port[1].clone();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let noise = {
            let (stop, busy) = (stop.clone(), cluster.master_of(&busy_key).url());
            tokio::spawn(async move {
                let client = cache_runtime::redis::Client::open(busy).unwrap();
                let mut redis = client.get_multiplexed_async_connection().await.unwrap();
                while !stop.load(Ordering::Relaxed) {
                    let _: () = redis.set(&busy_key, "1").await.unwrap();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        support::until_local_hit("tracked", Duration::from_secs(10), || {
            tracked(&cache, &source, id)
        })
        .await;
        let replica = cluster
            .nodes
            .iter()
            .find(|node| {
                let role = node.cli(&["ROLE"]);
                role.starts_with("slave") && role.lines().nth(2) == Some(&moved_port.to_string())
            })
            .expect("a replica of the master to fail over");
        replica.cli(&["CLUSTER", "FAILOVER"]);
        let asked = Instant::now();
        while !replica.cli(&["ROLE"]).starts_with("master") {
            assert!(asked.elapsed() < Duration::from_secs(20), "no failover");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Two heartbeats: the listener has seen the new master by then.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        support::until_local_hit("tracked", Duration::from_secs(10), || {
            tracked(&cache, &source, id)
        })
        .await;
        replica.cli(&["SET", &key, "4000"]);
        fresh_within_a_second(&cache, &source, id, 4000).await;
        stop.store(true, Ordering::Relaxed);
        noise.await.unwrap();
        assert_ne!(busy_port, moved_port);
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls), local = true)]
    async fn local_copy(cache: &Cache, calls: &AtomicUsize, id: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst) as u64 + id
    }

    /// The in-process tier on a cluster: another client's eviction reaches
    /// it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_process_copies_are_dropped_when_another_client_evicts() {
        let cluster = RedisCluster::start();
        let (here, elsewhere) = (cache_for(&cluster), cache_for(&cluster));
        let calls = AtomicUsize::new(0);
        support::until_local_hit("local_copy", Duration::from_secs(10), || {
            local_copy(&here, &calls, 1000)
        })
        .await;
        assert_eq!(local_copy(&here, &calls, 1000).await, 1000, "the first run");

        entry!(local_copy(&elsewhere, &calls, 1000))
            .evict()
            .await
            .unwrap();
        let evicted = Instant::now();
        while local_copy(&here, &calls, 1000).await == 1000 {
            assert!(
                evicted.elapsed() < Duration::from_secs(1),
                "the copy outlived the eviction"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(runs(&calls), 2);
    }

    #[cache_result(expire = 60, store = cache, skip(cache, calls), tags = ["team:{team}", "teams"])]
    async fn roster(cache: &Cache, calls: &AtomicUsize, team: u64, page: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        team * 100 + page
    }

    /// Tags on a cluster: each entry and each token in its own slot, read
    /// together (concurrently, node by node) and invalidated by one write.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tags_invalidate_entries_on_every_master() {
        let cluster = RedisCluster::start();
        let cache = cache_for(&cluster);
        let calls = AtomicUsize::new(0);
        for team in 0..4 {
            for page in 0..10 {
                assert_eq!(roster(&cache, &calls, team, page).await, team * 100 + page);
            }
        }
        for page in 0..10 {
            roster(&cache, &calls, 1, page).await;
        }
        assert_eq!(runs(&calls), 40, "hits");

        cache.invalidate_tag("team:1").await.unwrap();
        for page in 0..10 {
            roster(&cache, &calls, 1, page).await;
            roster(&cache, &calls, 2, page).await;
        }
        assert_eq!(runs(&calls), 50, "team 1 again, team 2 still hits");

        cache.invalidate_tag("teams").await.unwrap();
        for team in 0..4 {
            roster(&cache, &calls, team, 0).await;
        }
        assert_eq!(runs(&calls), 54);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn locks_sessions_objects_and_raw_commands_work_on_the_cluster() {
        let cluster = RedisCluster::start();
        let cache = cache_for(&cluster);

        // A lock: exclusive, released only by its holder.
        let lock = cache.lock("report").ttl(Duration::from_secs(5));
        let held = lock.acquire().await.unwrap();
        assert!(lock.try_acquire().await.unwrap().is_none());
        held.release().await.unwrap();
        assert!(lock.try_acquire().await.unwrap().is_some());

        // Counters under locks spread over every master.
        let counter = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for task in 0..8 {
            let (cache, counter) = (cache.clone(), counter.clone());
            tasks.push(tokio::spawn(async move {
                let mut redis = cache.connection().await.unwrap();
                for round in 0..10 {
                    let name = format!("account-{}", (task + round) % 5);
                    let guard = cache.lock(&name).acquire().await.unwrap();
                    let value: u64 = redis.incr(format!("balance:{name}"), 1).await.unwrap();
                    assert!(value >= 1);
                    counter.fetch_add(1, Ordering::SeqCst);
                    guard.release().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut redis = cache.connection().await.unwrap();
        let mut total = 0;
        for account in 0..5 {
            let balance: u64 = redis
                .get(format!("balance:account-{account}"))
                .await
                .unwrap();
            total += balance;
        }
        assert_eq!(total, 80);

        // Sessions: create, read, touch, destroy.
        let sessions = cache.sessions().ttl(Duration::from_secs(60));
        let mut tokens = Vec::new();
        for user in 0..20u64 {
            tokens.push(sessions.create(&user).await.unwrap());
        }
        for (user, token) in tokens.iter().enumerate() {
            let data: Option<u64> = sessions.get(token.as_str()).await.unwrap();
            assert_eq!(data, Some(user as u64));
            assert!(sessions.touch(token.as_str()).await.unwrap());
        }
        assert!(sessions.destroy(tokens[3].as_str()).await.unwrap());
        let gone: Option<u64> = sessions.get(tokens[3].as_str()).await.unwrap();
        assert_eq!(gone, None);

        // Objects as hashes (MULTI/EXEC on one key) and as JSON documents.
        let hashes = cache
            .hashes::<Profile>("profile")
            .ttl(Duration::from_secs(60));
        let documents = cache.documents::<Profile>("profile-doc");
        for id in 0..20 {
            let value = Profile {
                id,
                name: format!("user {id}"),
                tags: vec!["x".into()],
                manager: id.checked_sub(1),
            };
            hashes.save(id, &value).await.unwrap();
            documents.save(id, &value).await.unwrap();
            assert_eq!(hashes.load(id).await.unwrap(), Some(value.clone()));
            assert_eq!(documents.load(id).await.unwrap(), Some(value));
        }
        assert!(hashes.delete(3).await.unwrap());
        assert_eq!(hashes.load(3).await.unwrap(), None);

        // Indexed objects: the namespace's hash tag puts the objects and
        // their indexes in one slot; without one, `indexed` refuses.
        let untagged = cache.hashes::<Profile>("profile").indexed(["name"]);
        assert!(untagged.unwrap_err().to_string().contains("hash tag"));
        let indexed = cache
            .hashes::<Profile>("{profile}")
            .ttl(Duration::from_secs(60))
            .indexed(["id", "name"])
            .unwrap();
        for id in 0..20 {
            let value = Profile {
                id,
                name: format!("user {}", id % 4),
                tags: vec![],
                manager: None,
            };
            indexed.save(id, &value).await.unwrap();
        }
        assert!(indexed.delete(4).await.unwrap());
        let found = indexed.find("name", "user 0").await.unwrap();
        let mut ids: Vec<u64> = found.iter().map(|profile| profile.id).collect();
        ids.sort();
        assert_eq!(ids, [0, 8, 12, 16]);
        let ranged = indexed.find_range("id", 17.0..).await.unwrap();
        assert_eq!(
            ranged.iter().map(|profile| profile.id).collect::<Vec<_>>(),
            [17, 18, 19]
        );
    }
}

mod faults {
    use super::*;

    #[cache_result(expire = 600, store = cache, skip(cache, calls))]
    async fn doubled(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        n * 2
    }

    #[tokio::test]
    async fn no_cluster_at_all_still_returns_every_result() {
        let cache = Config::cluster(["redis://127.0.0.1:1", "redis://127.0.0.1:2"])
            .build()
            .unwrap();
        let calls = AtomicUsize::new(0);
        let start = Instant::now();
        for n in 0..50 {
            assert_eq!(doubled(&cache, &calls, n).await, n * 2);
        }
        assert_eq!(runs(&calls), 50);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
    }

    #[cache_result(expire = 600, store = cache, skip(cache, calls))]
    async fn tripled(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
        calls.fetch_add(1, Ordering::SeqCst);
        n * 3
    }

    /// Kills the master of one hot key under concurrent load. No call fails
    /// or returns a wrong value; after the replica takes over, the hot key
    /// hits again. Prints how long the cluster and the hits took to come back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn failover_under_load_loses_no_call_and_hits_resume() {
        let mut cluster = RedisCluster::start();
        let cache = Config::cluster(cluster.urls())
            .connect_timeout(Duration::from_secs(1))
            .build()
            .unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let hot = 7;
        tripled(&cache, &calls, hot).await;
        let hot_key = entry!(tripled(&cache, &calls, hot))
            .key()
            .unwrap()
            .to_owned();
        // Let the replica copy the hot key before its master dies.
        std::thread::sleep(Duration::from_millis(200));

        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let made = Arc::new(AtomicUsize::new(0));
        let mut load = Vec::new();
        for task in 0..16u64 {
            let (cache, calls, stop, made) =
                (cache.clone(), calls.clone(), stop.clone(), made.clone());
            load.push(tokio::spawn(async move {
                let mut n = task;
                while !stop.load(Ordering::Relaxed) {
                    let arg = if n.is_multiple_of(2) { hot } else { n % 500 };
                    assert_eq!(tripled(&cache, &calls, arg).await, arg * 3, "a wrong value");
                    made.fetch_add(1, Ordering::Relaxed);
                    n += 1;
                    tokio::task::yield_now().await;
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        let victim_port = cluster.master_of(&hot_key).port();
        let victim = cluster
            .nodes
            .iter()
            .position(|node| node.port() == victim_port)
            .unwrap();
        let killed_at = Instant::now();
        cluster.nodes[victim].stop();
        let served_after =
            tokio::task::block_in_place(|| cluster.wait_until_serving(Duration::from_secs(30)));

        // The hot key is served from its new master again.
        let hot_entry = entry!(tripled(&cache, &calls, hot));
        let hits_resumed_after = loop {
            if matches!(hot_entry.get().await, Ok(Some(21))) {
                break killed_at.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(
                killed_at.elapsed() < Duration::from_secs(30),
                "hits did not resume after the failover"
            );
        };
        stop.store(true, Ordering::Relaxed);
        for task in load {
            task.await
                .expect("no call failed or returned a wrong value");
        }
        println!(
            "failover: {} calls, 0 failed, 0 wrong; slots served again after {:.2} s, \
             hot-key hits resumed {:.2} s after the kill",
            made.load(Ordering::Relaxed),
            served_after.as_secs_f64(),
            hits_resumed_after.as_secs_f64()
        );
        assert!(made.load(Ordering::Relaxed) > 100);
    }
}
