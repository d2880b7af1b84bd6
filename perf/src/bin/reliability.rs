//! Runs every fault scenario of `tests/suite/faults.rs` against real redis-server
//! processes and prints docs/RELIABILITY.md's table.
//!
//! ```sh
//! cargo run --release -p cache-perf --bin reliability
//! ```
//!
//! Needs `redis-server` on PATH (scripts/test.sh installs it).

// The fault scenarios live with the tests that assert on them.
use cache_test_support as support;

use support::faults;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let reports = [
        faults::never_started().await,
        faults::unresponsive().await,
        faults::killed_and_restarted().await,
        faults::hung().await,
        faults::wrong_password().await,
        faults::garbage().await,
    ];
    println!("{}", faults::markdown_header());
    for report in &reports {
        println!("{}", report.markdown_row());
    }
    let failed: u64 = reports.iter().map(|r| r.failed + r.wrong).sum();
    if failed > 0 {
        eprintln!("{failed} calls failed or returned a wrong value");
        std::process::exit(1);
    }
}
