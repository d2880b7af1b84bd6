//! Methods: a skipped receiver, a serialized receiver, associated functions,
//! a trait impl, and a store taken from a field.
use cache_runtime::{cache_result, Cache};
use serde::Serialize;

pub struct Repo {
    cache: Cache,
}

impl Repo {
    #[cache_result(expire = 60, skip(self))]
    pub async fn count(&self, table: &str) -> u64 {
        table.len() as u64
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    pub async fn count_in_own_cache(&self, table: &str) -> u64 {
        table.len() as u64
    }

    #[cache_result(expire = 60)]
    pub async fn associated(id: u64) -> u64 {
        id
    }

    #[cache_result(expire = 60, skip(self))]
    pub async fn by_value(self, id: u64) -> u64 {
        id
    }
}

#[derive(Serialize)]
pub struct Tenant {
    id: u32,
}

impl Tenant {
    #[cache_result(expire = 60)]
    pub async fn name(&self) -> String {
        format!("tenant {}", self.id)
    }
}

trait Lookup {
    async fn lookup(&self, id: u64) -> Option<String>;
}

// A trait impl cannot hold the companions `#[cache_result]` generates beside
// a function (`entry!`, `function!`): cache an inherent method and delegate.
impl Lookup for Repo {
    async fn lookup(&self, id: u64) -> Option<String> {
        self.lookup_cached(id).await
    }
}

impl Repo {
    #[cache_result(expire = 60, skip(self))]
    async fn lookup_cached(&self, id: u64) -> Option<String> {
        Some(id.to_string())
    }
}

fn main() {}
