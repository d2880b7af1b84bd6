use cache_runtime::cache_result;

#[cache_result(expire = 60)]
const fn constant(id: u64) -> u64 {
    id
}

fn main() {}
