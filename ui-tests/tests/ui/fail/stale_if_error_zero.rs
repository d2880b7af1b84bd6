use cache_runtime::cache_result;

#[cache_result(expire = 60, stale_if_error = 0)]
async fn user(id: u64) -> Result<String, std::io::Error> {
    Ok(id.to_string())
}

fn main() {}
