use cache_runtime::{cache_result, entry};

#[cache_result(expire = 60)]
async fn user_age(id: u64) -> Option<u32> {
    Some(id as u32)
}

async fn update() {
    // `put` takes what the function returns: `Option<u32>`, not `&str`.
    entry!(user_age(1)).put(&"ann").await.unwrap();
}

fn main() {
    let _ = update;
}
