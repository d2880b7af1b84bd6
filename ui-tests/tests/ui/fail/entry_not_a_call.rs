use cache_runtime::{cache_result, entry};

#[cache_result(expire = 60)]
async fn user(id: u64) -> String {
    id.to_string()
}

fn main() {
    let _ = entry!(user);
}
