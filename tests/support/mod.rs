//! Test support: a real `redis-server` per test, on a free loopback port,
//! with no persistence, stopped when dropped.
//!
//! Missing `redis-server` is a test failure that says how to install it; a
//! test never passes by skipping.
#![allow(dead_code)] // each test binary uses its own part of this module

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
}

impl RedisServer {
    /// Starts a server and waits until it answers PING.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server that requires `password` (`--requirepass`).
    pub fn start_with_password(password: &str) -> Self {
        let mut server = Self::start_with(&["--requirepass", password]);
        server.password = Some(password.to_owned());
        server
    }

    fn start_with(extra: &[&str]) -> Self {
        // The port is free when we look; another process may take it before
        // redis-server binds it, so a failed start is retried on a new port.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(["--dir", &std::env::temp_dir().to_string_lossy()])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!(
                        "cannot start `redis-server` ({error}). The tests need a real Redis: \
                         install it with `sudo apt-get install redis-server` (Debian/Ubuntu), \
                         `brew install redis` (macOS), or run `scripts/test.sh`, which does it."
                    )
                });
            let mut server = RedisServer {
                child: None,
                port,
                password: None,
            };
            if wait_until_listening(port, &mut child) {
                server.child = Some(child);
                return server;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, with the password when there is one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Runs `redis-cli` against this server and returns its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-p", &self.port.to_string()]);
        if let Some(password) = &self.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        let output = command
            .args(args)
            .output()
            .expect("redis-cli runs (it ships with redis-server)");
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed: {output:?}"
        );
        String::from_utf8(output.stdout)
            .expect("redis-cli prints UTF-8")
            .trim()
            .to_owned()
    }

    /// Every key on the server (`SCAN`, db 0 unless `-n` is given in `args`).
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .cli(&["--scan"])
            .lines()
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// True once the server answers PING (or demands a password, which means
/// it is up); false if it exits or stays silent for 10 s.
fn wait_until_listening(port: u16, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            if stream.write_all(b"PING\r\n").is_ok() {
                let mut line = String::new();
                if BufReader::new(&mut stream).read_line(&mut line).is_ok()
                    && (line.starts_with("+PONG") || line.starts_with("-NOAUTH"))
                {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
