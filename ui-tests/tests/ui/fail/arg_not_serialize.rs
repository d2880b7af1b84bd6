use cache_runtime::cache_result;

struct Pool;

#[cache_result(expire = 60)]
async fn f(pool: &Pool, id: u64) -> u64 {
    let _ = pool;
    id
}

fn main() {}
