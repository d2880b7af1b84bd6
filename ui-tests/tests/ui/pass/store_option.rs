//! `store = ...`: a static, a function returning `&Cache`, an argument.
use std::sync::LazyLock;

use cache_runtime::{cache_result, Cache, Config};

static SESSIONS: LazyLock<Cache> =
    LazyLock::new(|| Config::redis("redis://127.0.0.1:6379").prefix("sessions").build().unwrap());

fn reports() -> &'static Cache {
    static REPORTS: LazyLock<Cache> = LazyLock::new(Cache::embedded);
    &REPORTS
}

#[cache_result(expire = 60, store = &SESSIONS)]
async fn from_static(id: u64) -> u64 {
    id
}

#[cache_result(expire = 60, store = reports())]
async fn from_function(id: u64) -> u64 {
    id
}

#[cache_result(expire = 60, store = cache, skip(cache))]
async fn from_argument(cache: &Cache, id: u64) -> u64 {
    let _ = cache;
    id
}

fn main() {
    let _ = (from_static, from_function, from_argument);
}
