use cache_runtime::cache_result;

#[derive(serde::Serialize)]
struct Report {
    total: u64,
}

// One error, at the stored type, whatever the return shape.
#[cache_result(expire = 60)]
async fn f(id: u64) -> Option<Report> {
    Some(Report { total: id })
}

fn main() {}
