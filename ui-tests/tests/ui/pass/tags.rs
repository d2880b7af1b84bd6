//! Tags: templates over any argument (in the key or skipped, fields too),
//! tags without holes, on async and sync functions and methods, with
//! `entry!` and `function!`.
use cache_runtime::{cache_result, entry, function, Cache};

pub struct Org {
    pub id: u64,
}

#[cache_result(expire = 60, store = cache, skip(cache, org), tags = ["org:{org.id}", "user:{id}", "users"])]
async fn member(cache: &Cache, org: &Org, id: u64) -> Option<String> {
    Some(format!("{}-{id}", org.id))
}

#[cache_result(expire = "10m", tags = ["report:{day}"], key = "report:{day}")]
fn report(day: u32) -> Vec<u32> {
    vec![day]
}

pub struct Repo;

impl Repo {
    #[cache_result(expire = 60, skip(self), tags = ["repo:{name}"])]
    pub async fn stars(&self, name: String) -> u64 {
        name.len() as u64
    }
}

async fn uses(cache: &Cache) {
    let org = Org { id: 1 };
    let _ = member(cache, &org, 2).await;
    let _ = entry!(member(cache, &org, 2)).evict().await;
    let _ = report(3);
    let _ = entry!(report(3)).put_blocking(&vec![3]);
    let _ = function!(report).clear_blocking();
    let _ = Repo.stars("x".into()).await;
    let _ = cache.invalidate_tags(&["users", "org:1"]).await;
}

fn main() {
    let _ = uses;
}
