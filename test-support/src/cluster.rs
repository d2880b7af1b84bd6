//! A local Redis Cluster of real `redis-server` processes: 3 masters and 3
//! replicas on loopback ports, formed with `redis-cli --cluster create`,
//! healthy before the test starts, torn down on drop.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{free_port, RedisServer, TlsFiles};

pub struct RedisCluster {
    /// Every node, in the order `--cluster create` was given them (the
    /// first three start as masters).
    pub nodes: Vec<RedisServer>,
    dir: PathBuf,
}

/// How long a master may be unreachable before its replica takes over.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);

impl RedisCluster {
    /// Starts 6 nodes, forms a cluster of 3 masters with one replica each,
    /// and waits until every slot is served and every replica is in sync.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// As [`RedisCluster::start`], every node speaking only TLS (clients,
    /// the cluster bus, replication), with one certificate signed by a CA
    /// of the test's own ([`RedisCluster::tls`] has it).
    pub fn start_tls() -> Self {
        Self::start_with(Some(Arc::new(TlsFiles::create())))
    }

    pub fn tls(&self) -> &TlsFiles {
        self.nodes[0].tls()
    }

    fn start_with(tls: Option<Arc<TlsFiles>>) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cache-runtime-cluster-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir for cluster config files");
        let nodes: Vec<RedisServer> = (0..6).map(|_| start_node(&dir, tls.as_ref())).collect();
        let cluster = RedisCluster { nodes, dir };

        let mut create = Command::new("redis-cli");
        if let Some(tls) = &tls {
            create.args(["--tls", "--cacert", &tls.path("ca.pem")]);
        }
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        let output = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli runs (it ships with redis-server)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        cluster.wait_until_healthy(Duration::from_secs(30));
        cluster
    }

    /// Seed URLs for `Config::cluster`: every node (any one would do).
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    /// The cluster URL form: `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`
    /// (`rediss+cluster://` for a TLS cluster).
    pub fn cluster_url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let scheme = match self.nodes[0].tls {
            Some(_) => "rediss+cluster",
            None => "redis+cluster",
        };
        format!("{scheme}://{}", hosts.join(","))
    }

    /// The running nodes that are masters now.
    pub fn masters(&self) -> Vec<&RedisServer> {
        self.nodes
            .iter()
            .filter(|node| node.is_running() && role(node) == "master")
            .collect()
    }

    /// The master that serves `key`'s slot now.
    pub fn master_of(&self, key: &str) -> &RedisServer {
        let slot: u16 = self
            .any_running()
            .cli(&["CLUSTER", "KEYSLOT", key])
            .parse()
            .expect("a slot number");
        self.masters()
            .into_iter()
            .find(|master| serves(master, slot))
            .unwrap_or_else(|| panic!("no master serves slot {slot}"))
    }

    /// Every key on every master, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .masters()
            .into_iter()
            .flat_map(|master| master.keys())
            .collect();
        keys.sort();
        keys
    }

    fn any_running(&self) -> &RedisServer {
        self.nodes
            .iter()
            .find(|node| node.is_running())
            .expect("a running node")
    }

    /// Waits until the cluster is whole: every running node sees state ok
    /// with all slots served, three masters with a replica each, in sync.
    pub fn wait_until_healthy(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let problem = self.health_problem();
            match problem {
                None => return,
                Some(problem) if Instant::now() > deadline => {
                    panic!("the cluster did not become healthy in {within:?}: {problem}")
                }
                Some(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Waits until every slot is served again (after a failover); returns
    /// how long that took.
    pub fn wait_until_serving(&self, within: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let info = self.any_running().cli(&["CLUSTER", "INFO"]);
            if info.contains("cluster_state:ok") && self.masters().len() == 3 {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "the cluster did not serve every slot again in {within:?}: {info}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn health_problem(&self) -> Option<String> {
        for node in self.nodes.iter().filter(|node| node.is_running()) {
            let info = node.cli(&["CLUSTER", "INFO"]);
            if !info.contains("cluster_state:ok") || !info.contains("cluster_slots_ok:16384") {
                return Some(format!("node {}: {info}", node.port()));
            }
        }
        let masters = self.masters();
        if masters.len() != 3 {
            return Some(format!("{} masters", masters.len()));
        }
        for replica in self
            .nodes
            .iter()
            .filter(|node| node.is_running() && role(node) == "slave")
        {
            let info = replica.cli(&["INFO", "replication"]);
            if !info.contains("master_link_status:up") {
                return Some(format!("replica {} not in sync", replica.port()));
            }
        }
        None
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One cluster node; its bus port (port + 10000) must be valid and free too.
fn start_node(dir: &std::path::Path, tls: Option<&Arc<TlsFiles>>) -> RedisServer {
    for _ in 0..20 {
        let port = free_port();
        if port > 55_000 || std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_err() {
            continue;
        }
        let config_file = dir.join(format!("nodes-{port}.conf"));
        let mut extra: Vec<String> = vec![
            "--cluster-enabled".into(),
            "yes".into(),
            "--cluster-config-file".into(),
            config_file.to_string_lossy().into_owned(),
            "--cluster-node-timeout".into(),
            NODE_TIMEOUT.as_millis().to_string(),
        ];
        if tls.is_some() {
            extra.extend(["--tls-cluster", "yes", "--tls-replication", "yes"].map(String::from));
        }
        let mut server = RedisServer {
            child: None,
            port,
            password: None,
            tls: tls.cloned(),
            extra,
            dir: None,
        };
        if server.spawn() {
            return server;
        }
    }
    panic!("no cluster node started on any of 20 free ports");
}

/// `master` or `slave`, from the node's own `ROLE`.
fn role(node: &RedisServer) -> String {
    node.cli(&["ROLE"])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Whether `master` serves `slot`, from its own `CLUSTER NODES` line.
fn serves(master: &RedisServer, slot: u16) -> bool {
    let nodes = master.cli(&["CLUSTER", "NODES"]);
    let Some(myself) = nodes.lines().find(|line| line.contains("myself")) else {
        return false;
    };
    myself.split_whitespace().skip(8).any(|range| {
        let (start, end) = range.split_once('-').unwrap_or((range, range));
        match (start.parse::<u16>(), end.parse::<u16>()) {
            (Ok(start), Ok(end)) => (start..=end).contains(&slot),
            _ => false,
        }
    })
}
