use cache_runtime::cache_result;

#[derive(serde::Serialize)]
pub struct Query {
    pub id: u64,
}

// An early refresh runs in a task of its own, from clones of the arguments.
#[cache_result(expire = 60, early_refresh = true)]
async fn report(query: Query) -> u64 {
    query.id
}

fn main() {}
