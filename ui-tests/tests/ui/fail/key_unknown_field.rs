use cache_runtime::cache_result;

pub struct User {
    pub id: u64,
}

#[cache_result(expire = 60, key = "user:{user.uid}")]
async fn greeting(user: &User) -> String {
    user.id.to_string()
}

fn main() {}
