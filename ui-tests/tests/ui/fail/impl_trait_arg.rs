use cache_runtime::cache_result;

#[cache_result(expire = 60)]
async fn f(name: impl AsRef<str>) -> usize {
    name.as_ref().len()
}

fn main() {}
