//! Every form of `local`.
use cache_runtime::cache_result;

const COPY_SECS: u64 = 5;

#[cache_result(expire = 60, local = true)]
async fn on(id: u64) -> String {
    id.to_string()
}

#[cache_result(expire = 60, local = false)]
async fn off(id: u64) -> String {
    id.to_string()
}

#[cache_result(expire = 60, local = 5)]
async fn for_seconds(id: u64) -> String {
    id.to_string()
}

#[cache_result(expire = 60, local = COPY_SECS, lock = true, early_refresh = true)]
async fn for_a_constant(id: u64) -> String {
    id.to_string()
}

#[cache_result(expire = 60, local = true)]
fn sync_on(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = (on(1), off(1), for_seconds(1), for_a_constant(1), sync_on);
}
