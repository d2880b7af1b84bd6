use cache_runtime::cache_result;

#[cache_result(expire = 60)]
async fn f<T: serde::Serialize>(value: T) -> u64 {
    let _ = value;
    1
}

fn main() {}
