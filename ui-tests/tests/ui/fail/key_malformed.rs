use cache_runtime::cache_result;

#[cache_result(expire = 60, key = "user:{}")]
async fn user(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
