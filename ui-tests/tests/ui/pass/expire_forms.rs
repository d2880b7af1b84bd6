//! `expire` as a literal, a constant, a constant expression, and a
//! duration with units (`stale_if_error` and `local` take the same).
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

#[cache_result(expire = "1h30m")]
async fn hours_and_minutes(id: u64) -> u64 {
    id
}

#[cache_result(expire = "250ms", local = "100ms")]
async fn under_a_second(id: u64) -> u64 {
    id
}

#[cache_result(expire = "90s", stale_if_error = "2d")]
async fn stale_for_days(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {
    let _ = (literal, constant, expression, default_expire);
    let _ = (hours_and_minutes, under_a_second, stale_for_days);
}
