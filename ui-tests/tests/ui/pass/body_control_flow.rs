//! The body keeps its meaning: `?` with `From` conversions, early `return`.
use cache_runtime::cache_result;

#[derive(Debug)]
pub struct AppError;

impl From<std::num::ParseIntError> for AppError {
    fn from(_: std::num::ParseIntError) -> Self {
        AppError
    }
}

#[cache_result(expire = 60)]
async fn parse(text: &str) -> Result<u64, AppError> {
    if text.is_empty() {
        return Ok(0);
    }
    let value: u64 = text.parse()?;
    Ok(value * 2)
}

fn main() {
    let _ = parse;
}
