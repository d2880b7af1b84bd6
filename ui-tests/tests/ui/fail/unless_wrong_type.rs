use cache_runtime::cache_result;

#[cache_result(expire = 60, unless = |age: &u64| *age == 0)]
async fn user_age(id: u64) -> Option<u32> {
    Some(id as u32)
}

fn main() {}
