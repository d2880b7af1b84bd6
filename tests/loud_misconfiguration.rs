//! A misconfigured cache runs every call uncached; someone who never set up
//! `tracing` must still see why. Each scenario runs in a child process of
//! this binary (the global cache, the tracing dispatcher and the warnings'
//! once-per-process flags are all per process), whose standard error the
//! parent reads.

use cache_test_support as support;

use std::process::Command;

use cache_runtime::cache_result;
use support::RedisServer;

#[cache_result(expire = 60)]
async fn double(n: u64) -> u64 {
    n * 2
}

/// Runs the `scenario` test of this binary in a child with `env`, and
/// returns its standard error.
fn child_stderr(scenario: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args([scenario, "--exact", "--nocapture", "--include-ignored"])
        .env("CACHE_MISCONFIGURATION_CHILD", "1")
        .envs(env.iter().copied())
        .output()
        .expect("the child runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The child's part: calls through the global cache, which reads the
/// environment the parent gave it. Ignored unless run as a child.
#[tokio::test]
#[ignore = "run by the tests below, in a child process"]
async fn calls_through_the_global_cache() {
    if std::env::var_os("CACHE_MISCONFIGURATION_CHILD").is_none() {
        return;
    }
    assert_eq!(double(21).await, 42);
    assert_eq!(double(21).await, 42, "uncached, still right");
}

#[test]
fn a_url_without_a_scheme_is_said_on_stderr() {
    let stderr = child_stderr(
        "calls_through_the_global_cache",
        &[("REDIS_URL", "127.0.0.1:6379")],
    );
    assert!(
        stderr.contains("cannot build the cache from REDIS_URL")
            && stderr.contains("every call runs uncached"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("cache-runtime:").count(),
        1,
        "once: {stderr}"
    );
}

#[test]
fn a_wrong_password_is_said_on_stderr_without_the_password() {
    let server = RedisServer::start_with_password("right-pw");
    let url = server.url().replace("right-pw", "wrong-pw");
    let stderr = child_stderr("calls_through_the_global_cache", &[("REDIS_URL", &url)]);
    assert!(stderr.contains("is unavailable"), "{stderr}");
    assert!(!stderr.contains("wrong-pw"), "the password shows: {stderr}");
    assert_eq!(
        stderr.matches("cache-runtime:").count(),
        1,
        "once: {stderr}"
    );
}
