use cache_runtime::function;

async fn not_cached(id: u64) -> u64 {
    id
}

async fn clear() {
    let _ = not_cached(1).await;
    function!(not_cached).clear().await.unwrap();
}

fn main() {
    let _ = clear;
}
