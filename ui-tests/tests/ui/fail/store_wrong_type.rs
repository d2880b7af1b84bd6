use cache_runtime::cache_result;

static NOT_A_CACHE: &str = "redis://127.0.0.1";

#[cache_result(expire = 60, store = NOT_A_CACHE)]
async fn f(id: u64) -> u64 {
    id
}

fn main() {}
