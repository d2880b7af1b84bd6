//! The stale window, given by `stale_if_error` or by `stale`, shared with
//! `soft_timeout`; early refresh in a task for owned arguments, in-line
//! for borrowed ones.
use cache_runtime::{cache_result, Cache};

#[cache_result(expire = 60, stale_if_error = "10m")]
async fn window_on_error(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cache_result(expire = 60, stale = "10m", stale_if_error = true, soft_timeout = "150ms")]
async fn both(id: u64, name: String) -> Result<String, std::io::Error> {
    Ok(format!("{id}{name}"))
}

#[cache_result(expire = 60, stale = 600, soft_timeout = 1)]
async fn soft_only(id: u64) -> Option<u64> {
    Some(id)
}

#[cache_result(expire = 60, store = cache, skip(cache), early_refresh = true)]
async fn refreshed_in_line(cache: &Cache, id: u64) -> u64 {
    id
}

#[cache_result(expire = 60, early_refresh = 2.0, unless = |n: &u64| *n == 0)]
async fn refreshed_behind(id: u64, names: Vec<String>) -> u64 {
    id + names.len() as u64
}

fn main() {
    let _ = (window_on_error, both, soft_only, refreshed_in_line, refreshed_behind);
}
