use cache_runtime::cache_result;

const TTL: u64 = 0;

#[cache_result(expire = TTL)]
async fn f(id: u64) -> u64 {
    id
}

fn main() {}
