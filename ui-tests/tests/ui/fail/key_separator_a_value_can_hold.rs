use cache_runtime::cache_result;

#[cache_result(expire = 60, key = "order:{day}x{id}")]
async fn order(day: u32, id: u64) -> String {
    format!("{day}/{id}")
}

fn main() {}
