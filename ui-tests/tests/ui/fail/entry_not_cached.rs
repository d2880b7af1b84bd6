use cache_runtime::entry;

async fn not_cached(id: u64) -> u64 {
    id
}

async fn update() {
    let _ = not_cached(1).await;
    entry!(not_cached(1)).evict().await.unwrap();
}

fn main() {
    let _ = update;
}
