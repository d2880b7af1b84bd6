//! Servers by address: a client for another address with the settings
//! (credentials, database, TLS) of one already made, as a cluster's nodes
//! and a Sentinel's master are reached.

use redis::{ConnectionAddr, RedisResult};

/// A client for `host:port` with `client`'s settings (credentials, TLS,
/// database): a cluster's nodes, a Sentinel's master.
pub(crate) fn at(client: &redis::Client, host: &str, port: u16) -> RedisResult<redis::Client> {
    let info = client.get_connection_info().clone();
    let address = match info.addr().clone() {
        ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => ConnectionAddr::TcpTls {
            host: host.to_owned(),
            port,
            insecure,
            tls_params,
        },
        _ => ConnectionAddr::Tcp(host.to_owned(), port),
    };
    redis::Client::open(info.set_addr(address))
}

pub(crate) fn address_of(client: &redis::Client) -> (String, u16) {
    match client.get_connection_info().addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            (host.clone(), *port)
        }
        other => (other.to_string(), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::{address_of, at};

    #[test]
    fn a_node_keeps_its_clients_credentials_and_database() {
        let seed = redis::Client::open("redis://user:pw@10.0.0.1:7000/3").unwrap();
        let node = at(&seed, "10.0.0.2", 7001).unwrap();
        let info = node.get_connection_info();
        assert_eq!(address_of(&node), ("10.0.0.2".to_owned(), 7001));
        assert_eq!(info.redis_settings().username(), Some("user"));
        assert_eq!(info.redis_settings().password(), Some("pw"));
        assert_eq!(info.redis_settings().db(), 3);
    }
}
