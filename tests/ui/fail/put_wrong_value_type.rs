use cache_runtime::{cache_result, entry};

#[cache_result(expire = 60)]
async fn user_name(id: u64) -> Option<String> {
    Some(id.to_string())
}

async fn update() {
    // `put` takes what the function returns: `Option<String>`, not `&str`.
    entry!(user_name(1)).put(&"ann").await.unwrap();
}

fn main() {
    let _ = update;
}
