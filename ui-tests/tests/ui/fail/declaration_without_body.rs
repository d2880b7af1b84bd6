use cache_runtime::cache_result;

trait Users {
    #[cache_result(expire = 60)]
    fn name(&self, id: u64) -> String;
}

fn main() {}
