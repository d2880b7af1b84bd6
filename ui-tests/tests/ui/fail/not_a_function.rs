use cache_runtime::cache_result;

#[cache_result(expire = 60)]
struct NotAFunction;

fn main() {}
