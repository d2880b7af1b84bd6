//! The cache on a master watched by Redis Sentinel: one master, one
//! replica and three Sentinels, real processes started by each test
//! (`support::sentinel`), with different passwords for the Sentinels and
//! the servers unless the test says otherwise.

use cache_test_support as support;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_runtime::{cache_result, entry, Cache, Config, Sentinel};
use support::sentinel::{SentinelTopology, MASTER_NAME, MASTER_PASSWORD};

fn cache_for(topology: &SentinelTopology) -> Cache {
    Config::sentinel(
        Sentinel::new(MASTER_NAME, topology.sentinel_urls()).master_password(MASTER_PASSWORD),
    )
    .connect_timeout(Duration::from_millis(500))
    .build()
    .expect("valid Sentinel settings")
}

#[cache_result(expire = 600, store = cache, skip(cache, calls))]
async fn quadrupled(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n * 4
}

/// The master found through the Sentinels: a miss is written to it, a hit
/// is read from it; the URL form, with one password for the Sentinels and
/// the master, works as the builder does. The first Sentinel listed
/// accepts connections and never answers (a host gone silent): the next
/// one is asked within the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_url_form_finds_the_master() {
    let topology = SentinelTopology::start_sharing_password();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let first = format!("@127.0.0.1:{},", silent.local_addr().unwrap().port());
    let url = topology.url().replacen('@', &first, 1);
    let cache = Config::redis(url).build().unwrap();
    assert!(!format!("{cache:?}").contains(MASTER_PASSWORD));
    let calls = AtomicUsize::new(0);
    assert_eq!(quadrupled(&cache, &calls, 5).await, 20);
    assert_eq!(quadrupled(&cache, &calls, 5).await, 20);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the second call hit");
    let key = entry!(quadrupled(&cache, &calls, 5))
        .key()
        .unwrap()
        .to_owned();
    assert_eq!(topology.master().cli(&["GET", &key]), "20");

    // A sync function's blocking connections find the master too.
    let sync_calls = Arc::new(AtomicUsize::new(0));
    let (sync_cache, counted) = (cache.clone(), sync_calls.clone());
    let values = tokio::task::spawn_blocking(move || {
        [
            halved(&sync_cache, &counted, 8),
            halved(&sync_cache, &counted, 8),
        ]
    })
    .await
    .unwrap();
    assert_eq!(values, [4, 4]);
    assert_eq!(sync_calls.load(Ordering::SeqCst), 1, "the second call hit");
}

#[cache_result(expire = 600, store = cache, skip(cache, calls))]
fn halved(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n / 2
}

/// No Sentinel answers (none runs there): every call runs its function and
/// returns its value, within the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_any_sentinel_every_call_runs_its_function() {
    let cache = Config::sentinel(Sentinel::new(
        MASTER_NAME,
        ["redis://127.0.0.1:1", "redis://127.0.0.1:2"],
    ))
    .build()
    .unwrap();
    let calls = AtomicUsize::new(0);
    let started = Instant::now();
    for n in 0..5 {
        assert_eq!(quadrupled(&cache, &calls, n).await, n * 4);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[cache_result(expire = 600, store = cache, skip(cache, calls))]
async fn tripled(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n * 3
}

/// Kills the master under load from 16 tasks: no call fails or returns a
/// wrong value (while there is no master, calls run their function); the
/// cache asks the Sentinels again and writes to the promoted replica.
/// Prints when writes resumed, counted from the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_master_is_replaced_under_load_and_no_call_fails() {
    let mut topology = SentinelTopology::start();
    let cache = cache_for(&topology);
    let calls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let made = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for task in 0..16u64 {
        let (cache, calls, stop, made) = (cache.clone(), calls.clone(), stop.clone(), made.clone());
        load.push(tokio::spawn(async move {
            let mut n = task;
            while !stop.load(Ordering::Relaxed) {
                let arg = n % 200;
                assert_eq!(tripled(&cache, &calls, arg).await, arg * 3, "a wrong value");
                made.fetch_add(1, Ordering::Relaxed);
                n += 16;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let old_master = topology.master_port();
    let killed_at = Instant::now();
    topology.servers[0].stop();
    // A new key written after the kill, found on the promoted replica.
    let mut promoted_after = None;
    let written_after = loop {
        if promoted_after.is_none() && topology.master_port() != old_master {
            promoted_after = Some(killed_at.elapsed());
        }
        let fresh = 1_000_000 + killed_at.elapsed().as_millis() as u64;
        assert_eq!(tripled(&cache, &calls, fresh).await, fresh * 3);
        let key = entry!(tripled(&cache, &calls, fresh))
            .key()
            .unwrap()
            .to_owned();
        let replica = &topology.servers[1];
        if replica.cli(&["GET", &key]) == (fresh * 3).to_string() {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "writes did not resume on the new master"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_ne!(topology.master_port(), old_master);
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await
            .expect("no call failed or returned a wrong value");
    }
    let promoted_after = promoted_after.unwrap_or(written_after);
    println!(
        "sentinel failover: {} calls, 0 failed, 0 wrong; the Sentinels named the new master \
         {:.2} s after the kill (down-after {:?}), writes resumed on it {:.2} s after the kill",
        made.load(Ordering::Relaxed),
        promoted_after.as_secs_f64(),
        support::sentinel::DOWN_AFTER,
        written_after.as_secs_f64(),
    );
}

#[cache_result(expire = 600, store = cache, skip(cache, source), local = true)]
async fn current(cache: &Cache, source: &AtomicU64, id: u64) -> u64 {
    source.load(Ordering::SeqCst) + id
}

/// A failover asked of the Sentinels (`SENTINEL FAILOVER`): the old master
/// stays up as a replica, so no connection breaks. Its `+switch-master`
/// sends the cache to the new master; the in-process tier listens there,
/// and another program's write on the new master reaches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_announced_by_sentinel_moves_the_cache_and_its_tier() {
    let topology = SentinelTopology::start();
    let cache = cache_for(&topology);
    let source = AtomicU64::new(100);
    support::until_local_hit("current", Duration::from_secs(10), || {
        current(&cache, &source, 1)
    })
    .await;

    let old_master = topology.master_port();
    let asked_at = Instant::now();
    topology.sentinels[0].cli(&["SENTINEL", "FAILOVER", MASTER_NAME]);
    while topology.master_port() == old_master {
        assert!(asked_at.elapsed() < Duration::from_secs(30), "no failover");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let promoted = &topology.servers[1];
    // Without a command failing (the old master answers reads as a
    // replica), the shared connection moves to the new master.
    let switched = Instant::now();
    loop {
        let mut redis = cache.connection().await.unwrap();
        let role: Vec<cache_runtime::redis::Value> = cache_runtime::redis::cmd("ROLE")
            .query_async(&mut redis)
            .await
            .unwrap();
        if matches!(role.first(), Some(cache_runtime::redis::Value::BulkString(role)) if role == b"master")
        {
            break;
        }
        assert!(
            switched.elapsed() < Duration::from_secs(5),
            "the shared connection stayed on the old master"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Writes reach the new master.
    let written_after = loop {
        let id = 1_000 + asked_at.elapsed().as_millis() as u64;
        current(&cache, &source, id).await;
        let key = entry!(current(&cache, &source, id))
            .key()
            .unwrap()
            .to_owned();
        if promoted.cli(&["GET", &key]) == (100 + id).to_string() {
            break asked_at.elapsed();
        }
        assert!(
            asked_at.elapsed() < Duration::from_secs(30),
            "writes did not move to the new master"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The tier hears the new master's writes.
    support::until_local_hit("current", Duration::from_secs(10), || {
        current(&cache, &source, 1)
    })
    .await;
    let key = entry!(current(&cache, &source, 1))
        .key()
        .unwrap()
        .to_owned();
    promoted.cli(&["SET", &key, "7"]);
    let written = Instant::now();
    while current(&cache, &source, 1).await != 7 {
        assert!(
            written.elapsed() < Duration::from_secs(1),
            "the copy outlived a write on the new master"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!(
        "sentinel switch: writes on the new master {:.2} s after SENTINEL FAILOVER",
        written_after.as_secs_f64()
    );
}
