use cache_runtime::cache_result;

#[cache_result(expire = 60, tags = ["org:{org}{team}"])]
async fn members(org: u64, team: u64) -> Vec<u64> {
    vec![org, team]
}

fn main() {}
