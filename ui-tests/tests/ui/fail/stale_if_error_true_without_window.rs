use cache_runtime::cache_result;

#[cache_result(expire = 60, stale_if_error = true)]
async fn rate(pair: String) -> Result<u64, String> {
    Ok(pair.len() as u64)
}

fn main() {}
