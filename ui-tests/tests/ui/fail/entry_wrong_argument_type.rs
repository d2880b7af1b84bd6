use cache_runtime::{cache_result, entry};

#[cache_result(expire = 60)]
async fn user(id: u64) -> String {
    id.to_string()
}

async fn update() {
    entry!(user("42")).evict().await.unwrap();
}

fn main() {
    let _ = update;
}
