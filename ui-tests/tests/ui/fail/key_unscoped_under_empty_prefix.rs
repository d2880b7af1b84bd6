use cache_runtime::cache_result;

#[cache_result(expire = 60, key = "{id}", prefix = "")]
async fn by_id(id: u64) -> String {
    id.to_string()
}

fn main() {}
