//! Passwords never appear in logs, errors or `Debug` output, and a Redis
//! that refuses the password is skipped with a warning saying why.

use cache_test_support as support;

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cache_result, Cache, Config};
use support::{capture_logs, RedisServer};

#[cache_result(expire = 60, store = cache, skip(cache, calls))]
async fn double(cache: &Cache, calls: &AtomicUsize, n: u64) -> u64 {
    calls.fetch_add(1, Ordering::SeqCst);
    n * 2
}

#[tokio::test]
async fn wrong_password_fails_open_and_the_log_says_why_without_the_password() {
    let server = RedisServer::start_with_password("the-right-one");
    let url = format!("redis://:wrong-pw-1234@127.0.0.1:{}/0", server.port());
    let (logs, _guard) = capture_logs();
    let cache = Config::redis(&url).build().unwrap();
    let calls = AtomicUsize::new(0);

    assert_eq!(double(&cache, &calls, 21).await, 42);
    assert_eq!(double(&cache, &calls, 21).await, 42);
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let error = cache.ping().await.unwrap_err();
    let logs = logs.text();
    assert!(logs.contains("WARN"), "a warning is logged: {logs}");
    assert!(
        logs.to_lowercase().contains("password"),
        "the log says why: {logs}"
    );
    for shown in [
        logs,
        error.to_string(),
        format!("{error:?}"),
        format!("{cache:?}"),
    ] {
        assert!(!shown.contains("wrong-pw-1234"), "password leaked: {shown}");
    }
}

#[test]
fn invalid_url_error_and_config_debug_redact_the_password() {
    let config = Config::redis("redis://:hunter2@/");
    assert!(!format!("{config:?}").contains("hunter2"));
    let error = Config::redis("redis://:hunter2@host:notaport/0")
        .build()
        .unwrap_err();
    assert!(!error.to_string().contains("hunter2"), "{error}");
    assert!(!format!("{error:?}").contains("hunter2"), "{error:?}");
}
