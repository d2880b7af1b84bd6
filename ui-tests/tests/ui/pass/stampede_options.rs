//! The options about sharing work and about expiry, alone and together, on
//! async and sync functions, and on return types that are and are not `Clone`.
use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

const STALE: u64 = 10 * 60;

/// Not `Clone`: waiters share values through JSON.
#[derive(Serialize, Deserialize)]
pub struct Report {
    pub rows: u64,
}

#[derive(Debug)]
pub struct DbError;

#[cache_result(expire = 60, lock = true, early_refresh = true, jitter = 0.1)]
async fn hot(id: u64) -> Report {
    Report { rows: id }
}

#[cache_result(expire = 60, early_refresh = 2.5, stale_if_error = STALE)]
async fn fail_safe(id: u64) -> Result<Option<Report>, DbError> {
    Ok(Some(Report { rows: id }))
}

/// `Clone` (and `Send + Sync`): waiters get clones, errors included.
#[cache_result(expire = 60, stale_if_error = 300, lock = false)]
async fn shared_errors(id: u64) -> Result<u64, std::sync::Arc<std::io::Error>> {
    Ok(id)
}

#[cache_result(expire = 60, coalesce = false, early_refresh = false)]
async fn alone(id: u64) -> u64 {
    id
}

#[cache_result(expire = 60, lock = true, stale_if_error = 30)]
fn blocking(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {
    let _ = (hot, fail_safe, shared_errors, alone, blocking);
}
