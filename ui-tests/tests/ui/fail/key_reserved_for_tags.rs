use cache_runtime::cache_result;

#[cache_result(expire = 60, key = "[tag]:{id}")]
async fn user(id: u64) -> String {
    id.to_string()
}

fn main() {}
