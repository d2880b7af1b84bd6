//! A cached function's future is `Send` when the body's is, so it can be
//! spawned and used in axum handlers; `&self` methods too.
use cache_runtime::{cache_result, Cache};

pub struct Repo {
    cache: Cache,
}

impl Repo {
    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    async fn count(&self, table: &str) -> Result<Option<u64>, std::io::Error> {
        Ok(Some(table.len() as u64))
    }
}

#[cache_result(expire = 60)]
async fn free(id: u64, name: String) -> Vec<String> {
    vec![name; id as usize]
}

/// A method of a generic impl: `Send` for each `T` that is.
pub struct Table<T> {
    cache: Cache,
    rows: Vec<T>,
}

impl<T: serde::Serialize> Table<T> {
    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    async fn len(&self, filter: &str) -> usize {
        self.rows.len() + filter.len()
    }
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    let repo = Repo { cache: Cache::embedded() };
    assert_send(repo.count("users"));
    assert_send(free(1, "x".into()));
    let table = Table { cache: Cache::embedded(), rows: vec![1u8] };
    assert_send(table.len("x"));
    assert_send(async move { tokio::spawn(free(2, "y".into())) });
}
