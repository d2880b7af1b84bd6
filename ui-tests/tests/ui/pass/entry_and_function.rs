//! `entry!` and `function!` in every position: a free function, a path into
//! a module, an associated function, a method through an instance.
use cache_runtime::{cache_result, entry, function, Cache, Entry, Error};

#[cache_result(expire = 60)]
async fn free(id: u64, name: &str) -> Option<String> {
    Some(format!("{id}{name}"))
}

mod users {
    use cache_runtime::cache_result;

    #[cache_result(expire = 60)]
    pub async fn find(id: u64) -> u64 {
        id
    }
}

pub struct Repo {
    cache: Cache,
}

impl Repo {
    #[cache_result(expire = 60)]
    pub async fn associated(id: u64) -> u64 {
        id
    }

    #[cache_result(expire = 60, skip(self), store = &self.cache)]
    pub async fn method(&self, id: u64) -> Result<u64, Error> {
        Ok(id)
    }

    async fn invalidate(&self) -> Result<(), Error> {
        entry!(self.method(1)).evict().await?;
        entry!(Self::associated(1)).evict().await?;
        function!(self.method).clear().await?;
        Ok(())
    }
}

async fn all(repo: &Repo) -> Result<(), Error> {
    let name = String::from("ann");
    let typed: Entry<Option<String>, _> = entry!(free(1, &name));
    typed.put(&Some("x".into())).await?;
    entry!(users::find(2)).evict().await?;
    entry!(Repo::associated(3)).evict().await?;
    entry!(repo.method(4)).put(&Ok(4)).await?;
    function!(free).clear().await?;
    function!(users::find).clear().await?;
    function!(Repo::associated).clear().await?;
    function!(repo.method).clear().await?;
    repo.invalidate().await
}

fn main() {
    let _ = all;
}
