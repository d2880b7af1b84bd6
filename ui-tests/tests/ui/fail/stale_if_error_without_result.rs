use cache_runtime::cache_result;

#[cache_result(expire = 60, stale_if_error = 300)]
async fn user(id: u64) -> Option<String> {
    Some(id.to_string())
}

fn main() {}
