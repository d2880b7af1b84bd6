//! Every return shape the attribute recognises, and a unit return.
use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub struct User {
    pub id: u64,
}

/// An error type without serde.
pub struct DbError;

#[cache_result(expire = 60)]
async fn plain(id: u64) -> User {
    User { id }
}

#[cache_result(expire = 60)]
async fn optional(id: u64) -> Option<User> {
    Some(User { id })
}

#[cache_result(expire = 60)]
async fn fallible(id: u64) -> Result<User, DbError> {
    Ok(User { id })
}

#[cache_result(expire = 60)]
async fn fallible_optional(id: u64) -> Result<Option<User>, DbError> {
    Ok(Some(User { id }))
}

#[cache_result(expire = 60, cache_none = true)]
async fn fallible_optional_none_cached(id: u64) -> Result<Option<User>, DbError> {
    Ok(Some(User { id }))
}

#[cache_result(expire = 60)]
async fn io_result(id: u64) -> std::io::Result<Vec<User>> {
    Ok(vec![User { id }])
}

#[cache_result(expire = 60)]
async fn no_return_value(id: u64) {
    let _ = id;
}

#[cache_result(expire = 60)]
async fn no_arguments() -> std::collections::BTreeMap<String, u32> {
    Default::default()
}

fn main() {
    let _ = (plain, optional, fallible, fallible_optional, fallible_optional_none_cached);
    let _ = (io_result, no_return_value, no_arguments);
}
