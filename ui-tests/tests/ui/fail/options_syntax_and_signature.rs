use cache_runtime::cache_result;

// A syntax error in the options does not hide the function's own mistakes.
#[cache_result(expire = 60 skip(id))]
async fn f(id: &str) -> &str {
    id
}

fn main() {}
