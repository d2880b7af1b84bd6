//! `expire` as a literal, a constant, and a constant expression.
use cache_runtime::cache_result;

const USER_TTL: u64 = 30 * 60;

#[cache_result(expire = 60)]
async fn literal(id: u64) -> u64 {
    id
}

#[cache_result(expire = USER_TTL)]
async fn constant(id: u64) -> u64 {
    id
}

#[cache_result(expire = 5 * 60)]
async fn expression(id: u64) -> u64 {
    id
}

#[cache_result]
async fn default_expire(id: u64) -> u64 {
    id
}

fn main() {
    let _ = (literal, constant, expression, default_expire);
}
