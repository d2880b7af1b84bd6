use cache_runtime::cache_result;

#[cache_result(expire = 60, unless = |name: &u64| *name == 0)]
async fn user(id: u64) -> Option<String> {
    Some(id.to_string())
}

fn main() {}
