use cache_runtime::cache_result;

#[cache_result(expire = 60, stale = "10m", soft_timeout = "150ms")]
async fn rate(pair: &str) -> u64 {
    pair.len() as u64
}

fn main() {}
