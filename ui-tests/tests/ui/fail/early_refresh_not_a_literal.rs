use cache_runtime::cache_result;

const BETA: f64 = 2.0;

#[cache_result(expire = 60, early_refresh = BETA, lock = true)]
async fn user(id: u64) -> String {
    id.to_string()
}

fn main() {}
