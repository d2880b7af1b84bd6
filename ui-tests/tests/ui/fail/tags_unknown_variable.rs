use cache_runtime::cache_result;

#[cache_result(expire = 60, tags = ["users", "user:{usr_id}"])]
async fn user(user_id: u64) -> String {
    user_id.to_string()
}

fn main() {}
