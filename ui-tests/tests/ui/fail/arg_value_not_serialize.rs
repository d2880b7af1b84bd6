use cache_runtime::cache_result;

struct Filter {
    active: bool,
}

#[cache_result(expire = 60)]
async fn count(filter: Filter) -> u64 {
    u64::from(filter.active)
}

fn main() {}
