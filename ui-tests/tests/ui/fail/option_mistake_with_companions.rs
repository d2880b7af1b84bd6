use cache_runtime::{cache_result, entry, function};

// A mistake in the options is one error: the function and its companions
// are still there, so its `entry!` and `function!` calls compile.
#[cache_result(expire = 60, lokal = true)]
async fn name(id: u64) -> Option<String> {
    Some(id.to_string())
}

async fn rename(id: u64) -> Result<(), cache_runtime::Error> {
    let _ = name(id).await;
    entry!(name(id)).evict().await?;
    function!(name).clear().await?;
    Ok(())
}

fn main() {
    let _ = rename;
}
