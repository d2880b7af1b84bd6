use cache_runtime::cache_result;

trait Lookup {
    async fn lookup(&self, id: u64) -> Option<String>;
}

struct Repo;

// A trait impl has no room for the companions the attribute generates; the
// README says to cache an inherent method and delegate to it.
impl Lookup for Repo {
    #[cache_result(expire = 60, skip(self))]
    async fn lookup(&self, id: u64) -> Option<String> {
        Some(id.to_string())
    }
}

fn main() {}
