use cache_runtime::cache_result;

#[cache_result(expire = 60, soft_timeout = "150ms")]
async fn rate(pair: String) -> u64 {
    pair.len() as u64
}

fn main() {}
