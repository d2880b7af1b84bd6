//! What the hot paths allocate, counted with a global allocator of this
//! test binary (per thread: the tier's listener thread does not count).
//!
//! - Deriving a key: exactly one allocation (the key's `String`), however
//!   large the arguments, since they are serialized straight into MD5. This
//!   is the path of every cached call (`KeyHasher`, then the key under the
//!   cache's prefix).
//! - An in-process hit of a `Copy` value with a short key: none at all (the
//!   tier key is inline up to 24 bytes); a longer key, one. With the
//!   `metrics` feature too: its handles are registered once per thread.

use cache_test_support as support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use std::time::Duration;

use cache_runtime::key::KeyHasher;
use cache_runtime::{cache_result, Cache, Config};
use serde::Serialize;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations_in(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

#[derive(Serialize)]
struct Filter {
    tags: Vec<String>,
    owner: String,
    since: u64,
}

#[test]
fn a_key_costs_one_allocation_whatever_its_arguments() {
    let cache = Cache::embedded();
    let filter = Filter {
        tags: (0..50).map(|i| format!("tag-{i}")).collect(),
        owner: "someone@example.com".into(),
        since: 1_700_000_000,
    };
    let small = allocations_in(|| {
        let call = KeyHasher::new("app::small")
            .arg("u64")
            .arg(&42u64)
            .finish()
            .unwrap();
        std::hint::black_box(cache.key(&call));
    });
    let large = allocations_in(|| {
        let call = KeyHasher::new("app::large")
            .arg("alloc::vec::Vec<u64>")
            .arg("rust cache")
            .arg(&filter)
            .arg(&3u32)
            .finish()
            .unwrap();
        std::hint::black_box(cache.key(&call));
    });
    assert_eq!((small, large), (1, 1));
}

#[cache_result(expire = 600, store = cache, skip(cache), local = true)]
async fn doubled(cache: &Cache, id: u64) -> u64 {
    id * 2
}

#[cache_result(expire = 600, store = cache, skip(cache), local = true)]
async fn length(cache: &Cache, name: &str) -> usize {
    name.len()
}

#[test]
fn an_in_process_hit_allocates_nothing_for_a_short_key() {
    let server = support::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = Config::redis(server.url()).build().unwrap();
    let long_name = "a name long enough to spill the inline tier key";
    runtime.block_on(async {
        support::until_local_hit("doubled", Duration::from_secs(5), || doubled(&cache, 7)).await;
        support::until_local_hit("length", Duration::from_secs(5), || {
            length(&cache, long_name)
        })
        .await;
    });
    let short = allocations_in(|| assert_eq!(runtime.block_on(doubled(&cache, 7)), 14));
    let long =
        allocations_in(|| assert_eq!(runtime.block_on(length(&cache, long_name)), long_name.len()));
    let stats = support::stats_of("doubled");
    assert!(stats.local_hits >= 1, "{stats:?}");
    assert_eq!((short, long), (0, 1));
}
