//! Key templates (fields, tuple indexes, braces), per-function prefix,
//! version, unless (closure and path).
use cache_runtime::cache_result;
use serde::Serialize;

#[derive(Serialize)]
pub struct User {
    pub id: u64,
    pub pair: (u8, u8),
}

#[cache_result(expire = 60, key = "user:{user.id}:{user.pair.1}:{{literal}}:{lang}")]
async fn template(user: &User, lang: &str) -> String {
    format!("{}{lang}", user.id)
}

#[cache_result(expire = 60, prefix = "users", version = 3)]
async fn namespaced(id: u64) -> u64 {
    id
}

#[cache_result(expire = 60, unless = Vec::is_empty)]
async fn unless_path(id: u64) -> Result<Vec<u64>, std::io::Error> {
    Ok(vec![id])
}

#[cache_result(expire = 60, unless = |users: &Vec<u64>| users.len() > 100)]
async fn unless_closure(id: u64) -> Option<Vec<u64>> {
    Some(vec![id])
}

#[cache_result(expire = 60, unless = |n| *n == 0)]
fn unless_inferred(id: u64) -> u64 {
    id
}

fn main() {
    let _ = (template, namespaced, unless_path, unless_closure, unless_inferred);
}
