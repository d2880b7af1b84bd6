//! A body that holds an `Rc` across an await is not `Send`, and neither is
//! the cached function's future: the cache never makes a future `Send`
//! that the body it runs is not.
use std::rc::Rc;

use cache_runtime::cache_result;

#[cache_result(expire = 60)]
async fn counted(id: u64) -> u64 {
    let held = Rc::new(id);
    tokio::task::yield_now().await;
    *held
}

fn assert_send<T: Send>(_: T) {}

fn main() {
    assert_send(counted(1));
}
