use cache_runtime::cache_result;

#[cache_result(expir = 60)]
async fn f(id: u64) -> u64 {
    id
}

fn main() {}
