use cache_runtime::cache_result;

#[derive(serde::Deserialize)]
struct Report {
    total: u64,
}

#[cache_result(expire = 60)]
async fn f(id: u64) -> Result<Report, std::io::Error> {
    Ok(Report { total: id })
}

fn main() {}
