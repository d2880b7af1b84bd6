use cache_runtime::cache_result;

pub struct Db;

#[cache_result(expire = 60, key = "user:{id}", skip(db))]
async fn user(db: &Db, id: u64) -> String {
    let _ = db;
    id.to_string()
}

fn main() {}
