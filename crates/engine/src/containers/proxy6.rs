//! Published TCP ports on IPv6 too: `-p 8080:80` listens on `[::]:8080` as well as
//! `0.0.0.0:8080`, as Docker 28 does, so `curl http://[::1]:8080/` and clients that prefer
//! IPv6 for `localhost` reach the container. Containers have IPv4 addresses only, which
//! nftables' DNAT cannot reach from IPv6, so these are forwarded in user space: one
//! IPv6-only listener per published port, one async task per listener and per connection
//! (no thread per container or per connection). They live with the daemon: while it is down
//! only the IPv4 side (kernel rules) answers.

use super::ports::Published;
use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Mutex;
use tokio::task::AbortHandle;

/// The IPv6 listeners of every running container, by container id.
pub struct Proxy6 {
    listeners: Mutex<HashMap<String, Vec<AbortHandle>>>,
    /// The daemon's runtime, captured when the engine opens: starts also happen on threads of
    /// no runtime (restart timers). `None` outside a runtime (unit tests): no IPv6 side.
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for Proxy6 {
    /// Listeners to come, on the runtime of the caller (if any).
    fn default() -> Proxy6 {
        Proxy6 {
            listeners: Mutex::new(HashMap::new()),
            runtime: tokio::runtime::Handle::try_current().ok(),
        }
    }
}

impl Proxy6 {
    /// Listens on `[::]:host_port` for each of `ports` published on all addresses (TCP), and
    /// forwards to `container_ip`; returns `ports` with `v6` set where that worked. A port
    /// taken on IPv6 (or a host without IPv6) is a warning: the IPv4 side stands.
    pub fn start(&self, id: &str, container_ip: Ipv4Addr, ports: &[Published]) -> Vec<Published> {
        self.stop(id);
        let Some(runtime) = &self.runtime else {
            return ports.to_vec();
        };
        let mut handles = Vec::new();
        let out = ports
            .iter()
            .map(|p| {
                let mut p = *p;
                p.v6 = false;
                if p.udp || !p.host_ip.is_unspecified() {
                    return p;
                }
                match listen(p.host_port) {
                    Ok(listener) => {
                        let target = SocketAddr::from((container_ip, p.container_port));
                        let _guard = runtime.enter();
                        match tokio::net::TcpListener::from_std(listener) {
                            Ok(l) => {
                                handles.push(runtime.spawn(serve(l, target)).abort_handle());
                                p.v6 = true;
                            }
                            Err(e) => {
                                tracing::warn!(port = p.host_port, error = %e, "IPv6 listener")
                            }
                        }
                    }
                    Err(e) => tracing::warn!(
                        port = p.host_port,
                        error = %e,
                        "cannot publish on [::] as well; the port is published on IPv4 only"
                    ),
                }
                p
            })
            .collect();
        if !handles.is_empty() {
            self.lock().insert(id.to_string(), handles);
        }
        out
    }

    /// Closes the container's IPv6 listeners and their connections.
    pub fn stop(&self, id: &str) {
        for h in self.lock().remove(id).unwrap_or_default() {
            h.abort();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<AbortHandle>>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An IPv6-only listening socket on `[::]:port` (IPv4 stays with the kernel rules).
fn listen(port: u16) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV6, Type::STREAM, None)?;
    s.set_only_v6(true)?;
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    s.bind(&SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0).into())?;
    s.listen(1024)?;
    Ok(s.into())
}

/// Accepts and forwards until aborted; aborting drops the connections' tasks with it.
async fn serve(listener: tokio::net::TcpListener, target: SocketAddr) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((mut client, _)) => {
                    connections.spawn(async move {
                        if let Ok(mut upstream) = tokio::net::TcpStream::connect(target).await {
                            let _ = client.set_nodelay(true);
                            let _ = upstream.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                    });
                }
                Err(e) => {
                    tracing::debug!(error = %e, "accepting on an IPv6 published port");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}
