use std::time::Duration;

use cache_runtime::cache_result;

#[cache_result(expire = Duration::from_secs(90))]
async fn f(id: u64) -> u64 {
    id
}

fn main() {}
