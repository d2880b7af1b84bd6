//! What the workspace's tests, examples and benches share: a real
//! `redis-server` per test, on a free loopback port, with no persistence and
//! a data directory of its own, stopped when dropped; clusters, faults
//! (proxies that stall or cut connections), worker processes, payloads.
//!
//! Missing `redis-server` is a test failure that says how to install it; a
//! test never passes by skipping.

pub mod cluster;
pub mod faults;
pub mod http;
pub mod payload;
pub mod processes;
pub mod sentinel;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    password: Option<String>,
    /// Speaks only TLS, with these files (shared by a TLS cluster's nodes:
    /// one CA, one certificate).
    tls: Option<Arc<TlsFiles>>,
    /// The options it was started with, to restart it the same way.
    extra: Vec<String>,
    /// The process's data directory, its own and empty at each start (a
    /// replica writes the dataset it receives to disk, and a server loads
    /// what it finds there): removed when it stops.
    dir: Option<PathBuf>,
}

/// A CA and a server certificate it signed, for `127.0.0.1`, in a directory
/// of their own (removed on drop).
pub struct TlsFiles {
    dir: PathBuf,
}

impl TlsFiles {
    fn create() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cache-runtime-tls-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir for certificates");
        // `clientAuth` too: a TLS cluster's nodes present it to each other
        // on the cluster bus, which always asks for a client certificate.
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("write extensions file");
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &dir,
            &[
                &["req", "-x509"][..],
                &ec,
                &["-keyout", "ca.key", "-out", "ca.pem"],
                &["-days", "2", "-subj", "/CN=cache-runtime test CA"],
            ]
            .concat(),
        );
        openssl(
            &dir,
            &[
                &["req"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=127.0.0.1",
                ],
            ]
            .concat(),
        );
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        );
        TlsFiles { dir }
    }

    /// redis-server's options to speak only TLS with these files (clients
    /// need no certificate of their own).
    fn server_args(&self) -> Vec<String> {
        [
            "--tls-cert-file",
            &self.path("server.pem"),
            "--tls-key-file",
            &self.path("server.key"),
            "--tls-ca-cert-file",
            &self.path("ca.pem"),
            "--tls-auth-clients",
            "no",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    pub fn ca_pem(&self) -> Vec<u8> {
        std::fs::read(self.path("ca.pem")).expect("CA certificate")
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!(
                "cannot run `openssl` ({error}); the TLS tests make their certificates with it: \
             `sudo apt-get install openssl`, or run `scripts/test.sh`"
            )
        });
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {output:?}"
    );
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

    /// Starts a server with more `redis-server` options (`--rename-command
    /// CLIENT ""`, say).
    pub fn start_with_options(options: &[&str]) -> Self {
        Self::start_with(options)
    }

    /// Starts a server that speaks only TLS, with a certificate signed by a
    /// CA of its own ([`RedisServer::tls`] has it).
    pub fn start_tls() -> Self {
        Self::start_on(&[], Some(Arc::new(TlsFiles::create())))
    }

    pub fn tls(&self) -> &TlsFiles {
        self.tls.as_deref().expect("a TLS server")
    }

    fn start_with(extra: &[&str]) -> Self {
        Self::start_on(extra, None)
    }

    fn start_on(extra: &[&str], tls: Option<Arc<TlsFiles>>) -> Self {
        // The port is free when we look; another process may take it before
        // redis-server binds it, so a failed start is retried on a new port.
        for _ in 0..5 {
            let extra = extra.iter().map(|arg| arg.to_string()).collect();
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                password: None,
                tls: tls.clone(),
                extra,
                dir: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts the process on `self.port`; true once it answers.
    fn spawn(&mut self) -> bool {
        let port_args = match self.tls {
            Some(_) => ["--port", "0", "--tls-port"],
            None => ["--tls-port", "0", "--port"],
        };
        static STARTS: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cache-runtime-redis-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("a data directory for redis-server");
        self.remove_dir();
        self.dir = Some(dir.clone());
        let mut child = Command::new("redis-server")
            .args(port_args)
            .args([&self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--dir", &dir.to_string_lossy()])
            .args(self.tls.iter().flat_map(|tls| tls.server_args()))
            .args(&self.extra)
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
        if wait_until_listening(self.port, &mut child, self.tls.is_some()) {
            self.child = Some(child);
            return true;
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Starts the server again, on the same port, after [`RedisServer::stop`]
    /// (with an empty dataset: nothing is persisted).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.spawn() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self
            .child
            .as_ref()
            .expect("a running server")
            .id()
            .to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal} {pid} failed");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// False after [`RedisServer::stop`].
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `redis://127.0.0.1:<port>` (`rediss://` for TLS), with the password
    /// when there is one.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.remove_dir();
    }

    fn remove_dir(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// Runs `redis-cli` against this server and returns its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut command = Command::new("redis-cli");
        command.args(["-p", &self.port.to_string()]);
        if let Some(password) = &self.password {
            command.args(["-a", password, "--no-auth-warning"]);
        }
        if let Some(tls) = &self.tls {
            command.args(["--tls", "--cacert", &tls.path("ca.pem")]);
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
        // SCAN returns a key more than once when the keyspace is rehashed
        // during the walk (as after a mass delete shrinks it); a set of
        // keys is what tests compare.
        keys.sort();
        keys.dedup();
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
/// it is up; a TLS server, once it accepts connections); false if it exits or
/// stays silent for 10 s.
fn wait_until_listening(port: u16, child: &mut Child, tls: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            if tls {
                return true;
            }
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

/// Everything logged while the guard lives, as plain text.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// The counters of the cached function whose path ends in `::<name>`; zero
/// before its first call. Counters are per function and per process: give
/// each test a function of its own. Every module of the test suite shares
/// one process, so a name two modules use must be qualified
/// (`observability::timed`): an ambiguous name fails the test.
pub fn stats_of(name: &str) -> cache_runtime::FunctionStats {
    let suffix = format!("::{name}");
    let mut found = cache_runtime::stats()
        .into_iter()
        .filter(|stats| stats.function.ends_with(&suffix));
    let stats = found.next().unwrap_or_default();
    let other = found.next();
    assert!(
        other.is_none(),
        "`{name}` names both {} and {}: qualify it",
        stats.function,
        other.map(|other| other.function).unwrap_or_default()
    );
    stats
}

/// Runs `test` on a current-thread Tokio runtime whose thread reads the time
/// from a mock clock that moves only when the test moves it
/// (`mock.increment(..)`). The cache decides the embedded store's expiry,
/// the in-process tier's and the breaker's cool-down by that clock (quanta's,
/// replaced per thread), so those are tested by advancing time instead of
/// sleeping. Redis keeps its own time: an entry in Redis still expires by
/// the wall clock.
pub fn on_mock_clock<F, Fut>(test: F) -> Fut::Output
where
    F: FnOnce(std::sync::Arc<quanta::Mock>) -> Fut,
    Fut: std::future::Future,
{
    let (clock, mock) = quanta::Clock::mock();
    // Away from zero, which some callers read as "never".
    mock.increment(Duration::from_secs(1));
    quanta::with_clock(&clock, || current_thread_runtime().block_on(test(mock)))
}

/// A current-thread Tokio runtime with its timer and I/O: for tests that
/// use a cache from several runtimes in turn, or from a thread of their own.
pub fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a Tokio runtime")
}

/// Calls `call` until one call of the function `name` is answered by the
/// in-process tier (which subscribes to its invalidation channel on first
/// use, from a thread of its own); fails if none is within `within`.
pub async fn until_local_hit<F, Fut>(name: &str, within: Duration, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future,
{
    let deadline = Instant::now() + within;
    let before = stats_of(name).local_hits;
    while stats_of(name).local_hits == before {
        assert!(
            Instant::now() < deadline,
            "{name}: no local hit within {within:?}"
        );
        call().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Polls a future to completion on this thread, with no Tokio runtime
/// anywhere: what another executor does.
pub fn poll_to_end<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::yield_now();
    }
}
