use cache_runtime::cache_result;

#[derive(serde::Serialize)]
struct Report {
    total: u64,
}

#[cache_result(expire = 60)]
async fn f(id: u64) -> Report {
    Report { total: id }
}

fn main() {}
