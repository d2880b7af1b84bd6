//! Argument shapes: references, explicit lifetimes, slices, patterns,
//! `mut` bindings, skipped non-serializable values.
use cache_runtime::cache_result;
use serde::Serialize;

#[derive(Serialize)]
pub struct Filter {
    pub name: String,
}

pub struct Pool;

#[cache_result(expire = 60)]
async fn by_ref(name: &str, filter: &Filter, ids: &[u64]) -> usize {
    name.len() + filter.name.len() + ids.len()
}

#[cache_result(expire = 60)]
async fn with_lifetime<'a>(name: &'a str, more: &'a [&'a str]) -> String {
    format!("{name}{}", more.len())
}

#[cache_result(expire = 60)]
async fn patterns((a, b): (u8, u8), _: bool, mut count: u32) -> u32 {
    count += u32::from(a) + u32::from(b);
    count
}

#[cache_result(expire = 60, skip(pool))]
async fn skipped(pool: &Pool, id: u64) -> u64 {
    let _ = pool;
    id
}

fn main() {
    let _ = (by_ref, with_lifetime, patterns, skipped);
}
