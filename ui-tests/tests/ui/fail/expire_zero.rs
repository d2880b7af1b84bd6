use cache_runtime::cache_result;

#[cache_result(expire = 0)]
async fn f(id: u64) -> u64 {
    id
}

fn main() {}
