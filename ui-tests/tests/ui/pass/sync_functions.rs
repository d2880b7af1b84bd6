//! Plain (non-async) functions: every return shape, methods, templates.
use cache_runtime::{cache_result, entry, function, Cache};

pub struct DbError;

#[cache_result(expire = 60)]
fn plain(id: u64) -> u64 {
    id
}

#[cache_result(expire = 60)]
fn fallible(id: u64) -> Result<Option<String>, DbError> {
    if id == 0 {
        return Err(DbError);
    }
    Ok(Some(id.to_string()))
}

pub struct Repo {
    cache: Cache,
}

impl Repo {
    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    pub fn count(&mut self, table: &str) -> u64 {
        table.len() as u64
    }

    #[cache_result(expire = 60, key = "repo:{id}", store = &self.cache)]
    pub fn by_template(&self, id: u64) -> u64 {
        id
    }
}

fn main() {
    let mut repo = Repo { cache: Cache::embedded() };
    let _ = (plain, fallible, repo.count("t"), repo.by_template(1));
    let _ = entry!(repo.count("t")).evict_blocking();
    let _ = function!(repo.by_template).clear_blocking();
    let _ = entry!(plain(1)).key();
}
