use cache_runtime::cache_result;

#[cache_result(expire = 60)]
async fn f(name: &str) -> &str {
    name
}

fn main() {}
