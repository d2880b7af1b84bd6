//! A master watched by Redis Sentinel, of real processes on loopback: one
//! master, one replica, three `redis-server --sentinel` processes (quorum
//! 2), each with a directory of its own, ready (the replica in sync, the
//! Sentinels aware of it and of each other) before the test starts, and
//! stopped on drop. The master and the replica require one password, the
//! Sentinels another.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::{free_port, wait_until_listening, RedisServer};

/// The master's name, as the Sentinels know it.
pub const MASTER_NAME: &str = "main";
/// The master's and the replica's password.
pub const MASTER_PASSWORD: &str = "master-secret";
/// The Sentinels' password.
pub const SENTINEL_PASSWORD: &str = "sentinel-secret";
/// How long a master may be silent before a Sentinel thinks it down
/// (`down-after-milliseconds`).
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

pub struct SentinelTopology {
    /// The first master, then its replica.
    pub servers: Vec<RedisServer>,
    pub sentinels: Vec<SentinelProcess>,
}

/// One `redis-server --sentinel`.
pub struct SentinelProcess {
    child: Option<Child>,
    port: u16,
    password: String,
    dir: PathBuf,
}

impl SentinelTopology {
    /// The Sentinels with [`SENTINEL_PASSWORD`], the servers with
    /// [`MASTER_PASSWORD`].
    pub fn start() -> Self {
        Self::start_with(SENTINEL_PASSWORD)
    }

    /// Sentinels and servers alike with [`MASTER_PASSWORD`], as one URL's
    /// credentials serve both.
    pub fn start_sharing_password() -> Self {
        Self::start_with(MASTER_PASSWORD)
    }

    fn start_with(sentinel_password: &str) -> Self {
        let auth = [
            "--requirepass",
            MASTER_PASSWORD,
            "--masterauth",
            MASTER_PASSWORD,
        ];
        let mut master = RedisServer::start_with(&auth);
        master.password = Some(MASTER_PASSWORD.to_owned());
        let replica_of = ["--replicaof", "127.0.0.1", &master.port().to_string()].map(String::from);
        let mut replica_args: Vec<&str> = auth.to_vec();
        replica_args.extend(replica_of.iter().map(String::as_str));
        let mut replica = RedisServer::start_with(&replica_args);
        replica.password = Some(MASTER_PASSWORD.to_owned());
        wait_for(Duration::from_secs(20), "the replica in sync", || {
            replica
                .cli(&["INFO", "replication"])
                .contains("master_link_status:up")
        });
        let sentinels = (0..3)
            .map(|_| SentinelProcess::start(master.port(), sentinel_password))
            .collect();
        let topology = SentinelTopology {
            servers: vec![master, replica],
            sentinels,
        };
        wait_for(Duration::from_secs(30), "the Sentinels ready", || {
            topology.sentinels.iter().all(|sentinel| {
                let master = sentinel.cli(&["SENTINEL", "MASTER", MASTER_NAME]);
                field(&master, "num-slaves") == Some("1")
                    && field(&master, "num-other-sentinels") == Some("2")
            })
        });
        topology
    }

    /// `redis://:<its password>@127.0.0.1:<port>` for each Sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels
            .iter()
            .map(|sentinel| format!("redis://:{}@127.0.0.1:{}", sentinel.password, sentinel.port))
            .collect()
    }

    /// `redis+sentinel://:<password>@<each Sentinel>/<master>`: for
    /// [`SentinelTopology::start_sharing_password`].
    pub fn url(&self) -> String {
        let hosts = self
            .sentinels
            .iter()
            .map(|sentinel| format!("127.0.0.1:{}", sentinel.port))
            .collect::<Vec<_>>()
            .join(",");
        format!("redis+sentinel://:{MASTER_PASSWORD}@{hosts}/{MASTER_NAME}")
    }

    /// The server the Sentinels name as the master now (its port).
    pub fn master_port(&self) -> u16 {
        let reply = self.sentinels[0].cli(&["SENTINEL", "get-master-addr-by-name", MASTER_NAME]);
        reply
            .lines()
            .nth(1)
            .and_then(|port| port.trim().parse().ok())
            .unwrap_or_else(|| panic!("no master address in {reply:?}"))
    }

    /// The running server that is the master now, by its own `ROLE`.
    pub fn master(&self) -> &RedisServer {
        self.servers
            .iter()
            .find(|server| server.is_running() && server.cli(&["ROLE"]).starts_with("master"))
            .expect("a running master")
    }
}

/// `field`'s value in a flat `name\nvalue\n...` reply.
fn field<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let lines: Vec<&str> = reply.lines().collect();
    lines
        .iter()
        .position(|line| *line == name)
        .and_then(|at| lines.get(at + 1).copied())
}

fn wait_for(within: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "not ready within {within:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl SentinelProcess {
    fn start(master_port: u16, password: &str) -> Self {
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!(
                "cache-runtime-sentinel-{}-{}",
                std::process::id(),
                STARTS.fetch_add(1, Ordering::SeqCst)
            ));
            std::fs::create_dir_all(&dir).expect("a directory for the Sentinel");
            // Sentinel rewrites its configuration file: one of its own.
            let config = dir.join("sentinel.conf");
            let down_after = DOWN_AFTER.as_millis();
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\ndaemonize no\ndir {dir}\n\
                     requirepass {password}\n\
                     sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
                     sentinel auth-pass {MASTER_NAME} {MASTER_PASSWORD}\n\
                     sentinel down-after-milliseconds {MASTER_NAME} {down_after}\n\
                     sentinel failover-timeout {MASTER_NAME} 10000\n\
                     sentinel parallel-syncs {MASTER_NAME} 1\n",
                    dir = dir.display()
                ),
            )
            .expect("a Sentinel configuration");
            let mut child = Command::new("redis-server")
                .arg(&config)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server runs as a Sentinel");
            if wait_until_listening(port, &mut child, false) {
                return SentinelProcess {
                    child: Some(child),
                    port,
                    password: password.to_owned(),
                    dir,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("no Sentinel started on any of 5 free ports");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `redis-cli` against this Sentinel; its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(["-a", &self.password, "--no-auth-warning"])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Kills the Sentinel (SIGKILL).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SentinelProcess {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
