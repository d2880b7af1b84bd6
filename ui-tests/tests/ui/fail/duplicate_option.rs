use cache_runtime::cache_result;

#[cache_result(expire = 60, expire = 120)]
async fn f(id: u64) -> u64 {
    id
}

fn main() {}
