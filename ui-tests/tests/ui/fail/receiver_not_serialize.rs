use cache_runtime::cache_result;

struct Repo;

impl Repo {
    #[cache_result(expire = 60)]
    async fn count(&self, table: &str) -> u64 {
        table.len() as u64
    }
}

fn main() {}
