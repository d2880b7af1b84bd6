//! What deriving a key allocates: exactly one allocation (the key's
//! `String`), however large the arguments, since they are serialized
//! straight into MD5. This is the path of every cached call (`KeyHasher`,
//! then the key under the cache's prefix). Counted with a global allocator
//! of this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use cache_runtime::key::KeyHasher;
use cache_runtime::Cache;
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
