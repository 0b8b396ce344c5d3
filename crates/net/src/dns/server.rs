//! The listener: one background thread per server that polls the UDP socket, the TCP listener
//! and the sockets of queries being forwarded, so a slow upstream never holds up local answers
//! and stopping is a flag plus a wake-up datagram.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use rustix::event::{PollFd, PollFlags, Timespec, poll};

use super::zone::{Zone, normalize};

/// The TTL of the A records the server answers from its zone: short, unlike the 600 s of
/// Docker's embedded server, because a container that restarts gets a new address and a
/// caching resolver (systemd-resolved on the host, nscd, a proxy's own cache) must not keep
/// the old one for ten minutes. glibc and musl do not cache at all.
pub const ANSWER_TTL: u32 = 5;

/// How long one upstream may take to answer a forwarded query before the next one is tried.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The most forwarded UDP queries in flight per server; more are dropped (the client retries).
const MAX_PENDING: usize = 256;
/// The most TCP connections served at once per server; more are closed at once.
const MAX_TCP_CONNS: usize = 32;
/// The longest the loop sleeps without looking at the stop flag.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long an idle TCP client is kept.
const TCP_IDLE: Duration = Duration::from_secs(5);
/// The receive buffer for client datagrams (EDNS clients rarely send more than 1232 bytes).
const QUERY_BUF: usize = 4096;
/// The payload size the server advertises to EDNS clients (the DNS flag day value).
const EDNS_PAYLOAD: u16 = 1232;

/// Which names a listener answers, because the same zone serves two audiences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerView {
    /// The listener containers of one network use (on the bridge's gateway address): bare names
    /// of that view (case-insensitive, trailing dot ignored); everything else is forwarded to
    /// the upstreams (NXDOMAIN when there are none).
    Network(String),
    /// A listener for the host (e.g. on loopback): `<name>.<suffix>` searched across all views
    /// (views in key order, first match wins) and `<name>.<network>.<suffix>` in one view
    /// (network = view key or label). Names outside the suffix are REFUSED, never forwarded, so
    /// the host can point just that one domain at it.
    Host {
        /// The domain served, e.g. `berth` (case and surrounding dots do not matter).
        suffix: String,
    },
}

/// An embedded DNS server running on a background thread; stopping it (or dropping it) ends
/// the thread promptly and frees the port.
#[derive(Debug)]
pub struct DnsServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    view: ServerView,
    zone: Zone,
    upstreams: Vec<SocketAddr>,
    /// Round-robin counter: the rotation applied to the next multi-address answer.
    rr: AtomicUsize,
    stop: AtomicBool,
    tcp_conns: AtomicUsize,
}

/// What to do with one client message.
#[derive(Debug)]
enum Decision {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// Relay the message to the upstreams; `servfail` is the answer when none replies.
    Forward { id: u16, servfail: Vec<u8> },
    /// Malformed or not a query: say nothing.
    Drop,
}

impl DnsServer {
    /// Binds UDP and TCP on `listen` (port 0 picks a free port, the same for both) and serves
    /// `view` of `zone` from a background thread, forwarding unknown names of a
    /// [`ServerView::Network`] view to `upstreams` in order. The bound address is
    /// [`DnsServer::local_addr`].
    pub fn start(
        listen: SocketAddr,
        view: ServerView,
        zone: Zone,
        upstreams: Vec<SocketAddr>,
    ) -> io::Result<DnsServer> {
        let (udp, tcp) = bind_pair(listen)?;
        let local_addr = udp.local_addr()?;
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        let view = match view {
            ServerView::Host { suffix } => ServerView::Host {
                suffix: normalize(suffix.trim_start_matches('.')),
            },
            network => network,
        };
        let mut ups: Vec<SocketAddr> = Vec::with_capacity(upstreams.len());
        for u in upstreams {
            // Forwarding to ourselves would loop until the timeout.
            if u != local_addr && !ups.contains(&u) {
                ups.push(u);
            }
        }
        let shared = Arc::new(Shared {
            view,
            zone,
            upstreams: ups,
            rr: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            tcp_conns: AtomicUsize::new(0),
        });
        let thread = std::thread::Builder::new()
            .name(format!("berth-dns-{}", local_addr.port()))
            .spawn({
                let shared = shared.clone();
                move || run(&shared, &udp, &tcp)
            })?;
        Ok(DnsServer {
            local_addr,
            shared,
            thread: Some(thread),
        })
    }

    /// The address actually bound (with the real port when `listen` asked for port 0), for
    /// writing into containers' `resolv.conf` and for tests.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Which names this server answers.
    pub fn view(&self) -> &ServerView {
        &self.shared.view
    }

    /// Stops the thread and waits for it, so the port is free when this returns (TCP
    /// connections already accepted finish their current message on their own threads).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.shared.stop.store(true, Ordering::Release);
        // Wake the poll at once; the poll timeout is the fallback if this datagram is lost.
        let wake = wake_addr(self.local_addr);
        let unspecified: IpAddr = match wake {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        if let Ok(s) = UdpSocket::bind((unspecified, 0)) {
            let _ = s.send_to(&[], wake);
        }
        let _ = thread.join();
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Where to send the wake-up datagram: the bound address, or loopback for a wildcard bind.
fn wake_addr(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(ip) if ip.is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// UDP and TCP on the same port; with port 0, retries when the TCP side of the port picked
/// for UDP is taken.
fn bind_pair(listen: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if listen.port() != 0 {
        return Ok((UdpSocket::bind(listen)?, TcpListener::bind(listen)?));
    }
    let mut last = None;
    for _ in 0..16 {
        let udp = UdpSocket::bind(listen)?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(listen.ip(), port)) {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if e.kind() == ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(ErrorKind::AddrInUse)))
}

/// One UDP query being forwarded.
struct Pending {
    client: SocketAddr,
    query: Vec<u8>,
    id: u16,
    servfail: Vec<u8>,
    /// Index into the upstreams of the one being asked.
    upstream: usize,
    socket: UdpSocket,
    deadline: Instant,
}

impl Pending {
    /// Sends the query to upstream `from` or the next one that accepts it; `None` when none
    /// is left.
    fn ask(
        upstreams: &[SocketAddr],
        from: usize,
        query: &[u8],
    ) -> Option<(usize, UdpSocket, Instant)> {
        for (i, up) in upstreams.iter().enumerate().skip(from) {
            let unspecified: IpAddr = match up {
                SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
                SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
            };
            let sent = UdpSocket::bind((unspecified, 0)).and_then(|s| {
                s.connect(up)?;
                s.set_nonblocking(true)?;
                s.send(query)?;
                Ok(s)
            });
            if let Ok(s) = sent {
                return Some((i, s, Instant::now() + UPSTREAM_TIMEOUT));
            }
        }
        None
    }
}

fn run(shared: &Arc<Shared>, udp: &UdpSocket, tcp: &TcpListener) {
    let mut pending: Vec<Pending> = Vec::new();
    let mut buf = vec![0u8; QUERY_BUF];
    let mut reply_buf = vec![0u8; usize::from(u16::MAX)];
    while !shared.stop.load(Ordering::Acquire) {
        let now = Instant::now();
        let timeout = pending
            .iter()
            .map(|p| p.deadline.saturating_duration_since(now))
            .min()
            .unwrap_or(POLL_INTERVAL)
            .min(POLL_INTERVAL);
        let ready: Vec<bool> = {
            let mut fds = Vec::with_capacity(2 + pending.len());
            fds.push(PollFd::new(udp, PollFlags::IN));
            fds.push(PollFd::new(tcp, PollFlags::IN));
            fds.extend(
                pending
                    .iter()
                    .map(|p| PollFd::new(&p.socket, PollFlags::IN)),
            );
            let ts = Timespec::try_from(timeout).unwrap_or(Timespec {
                tv_sec: 0,
                tv_nsec: 250_000_000,
            });
            match poll(&mut fds, Some(&ts)) {
                Ok(_) => fds.iter().map(|f| !f.revents().is_empty()).collect(),
                Err(rustix::io::Errno::INTR) => continue,
                // Should not happen; avoid a busy loop if it does.
                Err(_) => {
                    std::thread::sleep(POLL_INTERVAL);
                    continue;
                }
            }
        };
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        // Upstream replies and deadlines first, while `ready[2..]` still lines up with `pending`.
        let now = Instant::now();
        pending = pending
            .drain(..)
            .zip(ready[2..].iter())
            .filter_map(|(p, &r)| step(shared, udp, p, r, now, &mut reply_buf))
            .collect();
        if ready[0] {
            serve_udp(shared, udp, &mut buf, &mut pending);
        }
        if ready[1] {
            accept_tcp(shared, tcp);
        }
    }
}

/// Advances one forwarded query: relays the upstream's reply, or moves on to the next
/// upstream after an error or the timeout, or answers SERVFAIL when none is left. `None` when
/// the query is done.
fn step(
    shared: &Shared,
    udp: &UdpSocket,
    mut p: Pending,
    ready: bool,
    now: Instant,
    reply_buf: &mut [u8],
) -> Option<Pending> {
    let mut failed = false;
    if ready {
        // Drain what arrived: stray datagrams with another id are ignored.
        loop {
            match p.socket.recv(reply_buf) {
                Ok(n) if is_reply_to(&reply_buf[..n], p.id) => {
                    let _ = udp.send_to(&reply_buf[..n], p.client);
                    return None;
                }
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Typically ECONNREFUSED: nobody listens there, try the next one now.
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
    }
    if failed || p.deadline <= now {
        match Pending::ask(&shared.upstreams, p.upstream + 1, &p.query) {
            Some((upstream, socket, deadline)) => {
                p.upstream = upstream;
                p.socket = socket;
                p.deadline = deadline;
            }
            None => {
                let _ = udp.send_to(&p.servfail, p.client);
                return None;
            }
        }
    }
    Some(p)
}

/// The asking container's IPv4 address (IPv4-mapped IPv6 included), which picks its extra views.
fn client_v4(ip: std::net::IpAddr) -> Option<std::net::Ipv4Addr> {
    match ip {
        std::net::IpAddr::V4(v4) => Some(v4),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped(),
    }
}

/// Whether `bytes` is a DNS response carrying `id`.
fn is_reply_to(bytes: &[u8], id: u16) -> bool {
    bytes.len() >= 12 && u16::from_be_bytes([bytes[0], bytes[1]]) == id && bytes[2] & 0x80 != 0
}

/// Reads every datagram waiting on the listening socket.
fn serve_udp(shared: &Shared, udp: &UdpSocket, buf: &mut [u8], pending: &mut Vec<Pending>) {
    for _ in 0..256 {
        let (n, client) = match udp.recv_from(buf) {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // ICMP errors from earlier replies and the like: not fatal.
            Err(_) => continue,
        };
        let query = &buf[..n];
        match shared.decide(query, true, client_v4(client.ip())) {
            Decision::Reply(bytes) => {
                let _ = udp.send_to(&bytes, client);
            }
            Decision::Forward { id, servfail } => {
                if pending.len() >= MAX_PENDING {
                    continue;
                }
                match Pending::ask(&shared.upstreams, 0, query) {
                    Some((upstream, socket, deadline)) => pending.push(Pending {
                        client,
                        query: query.to_vec(),
                        id,
                        servfail,
                        upstream,
                        socket,
                        deadline,
                    }),
                    None => {
                        let _ = udp.send_to(&servfail, client);
                    }
                }
            }
            Decision::Drop => {}
        }
    }
}

/// Accepts every waiting TCP connection, each served on its own short-lived thread (TCP is
/// rare: truncated answers and a few clients), which holds the zone but not the listener, so
/// the port is freed when the server stops even while a connection lingers.
fn accept_tcp(shared: &Arc<Shared>, tcp: &TcpListener) {
    loop {
        let stream = match tcp.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if shared.tcp_conns.fetch_add(1, Ordering::AcqRel) >= MAX_TCP_CONNS {
            shared.tcp_conns.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("berth-dns-tcp".into())
            .spawn(move || {
                let _ = serve_tcp(&conn_shared, stream);
                conn_shared.tcp_conns.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            shared.tcp_conns.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Serves length-prefixed messages on one TCP connection until EOF, idleness, a malformed
/// message or the server's stop.
fn serve_tcp(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    let client = client_v4(stream.peer_addr()?.ip());
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(TCP_IDLE))?;
    stream.set_write_timeout(Some(TCP_IDLE))?;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let msg = read_framed(&mut stream)?;
        let reply = match shared.decide(&msg, false, client) {
            Decision::Reply(bytes) => bytes,
            Decision::Forward { id, servfail } => {
                forward_tcp(&shared.upstreams, &msg, id).unwrap_or(servfail)
            }
            Decision::Drop => return Ok(()),
        };
        write_framed(&mut stream, &reply)?;
    }
}

fn read_framed(stream: &mut TcpStream) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len)?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut msg)?;
    Ok(msg)
}

fn write_framed(stream: &mut TcpStream, msg: &[u8]) -> io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(|_| io::Error::from(ErrorKind::InvalidData))?;
    let mut framed = Vec::with_capacity(2 + msg.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(msg);
    stream.write_all(&framed)
}

/// Asks each upstream over TCP in turn; the first reply carrying `id` wins.
fn forward_tcp(upstreams: &[SocketAddr], msg: &[u8], id: u16) -> Option<Vec<u8>> {
    upstreams.iter().find_map(|up| {
        let mut s = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT).ok()?;
        s.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
        s.set_write_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
        write_framed(&mut s, msg).ok()?;
        let reply = read_framed(&mut s).ok()?;
        is_reply_to(&reply, id).then_some(reply)
    })
}

impl Shared {
    /// Decides what to answer to one client message; `udp` applies the UDP size limit, and
    /// `client` (the sender's address) adds the views and aliases that client also sees.
    fn decide(&self, packet: &[u8], udp: bool, client: Option<std::net::Ipv4Addr>) -> Decision {
        let Ok(req) = Message::from_vec(packet) else {
            return Decision::Drop;
        };
        if req.metadata.message_type != MessageType::Query {
            return Decision::Drop;
        }
        let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
        resp.metadata = Metadata::response_from_request(&req.metadata);
        resp.queries = req.queries.clone();
        if req.edns.is_some() {
            let mut edns = Edns::new();
            edns.set_max_payload(EDNS_PAYLOAD);
            resp.edns = Some(edns);
        }
        let forwards = matches!(self.view, ServerView::Network(_)) && !self.upstreams.is_empty();
        resp.metadata.recursion_available = forwards;
        if req.metadata.op_code != OpCode::Query {
            return reply(resp, ResponseCode::NotImp, &req, udp);
        }
        let [query] = req.queries.as_slice() else {
            return reply(resp, ResponseCode::FormErr, &req, udp);
        };
        let name = normalize(&query.name().to_ascii());
        let class_ok = matches!(query.query_class(), DNSClass::IN | DNSClass::ANY);
        let found = match &self.view {
            ServerView::Network(view) => {
                match class_ok
                    .then(|| self.zone.lookup_view(view, client, &name))
                    .flatten()
                {
                    Some(ips) => ips,
                    None if forwards => {
                        let mut r = resp.clone();
                        r.metadata.response_code = ResponseCode::ServFail;
                        let Ok(servfail) = r.to_vec() else {
                            return Decision::Drop;
                        };
                        return Decision::Forward {
                            id: req.metadata.id,
                            servfail,
                        };
                    }
                    None => return reply(resp, ResponseCode::NXDomain, &req, udp),
                }
            }
            ServerView::Host { suffix } => {
                let rest = if suffix.is_empty() {
                    Some(name.as_str())
                } else if name == *suffix {
                    // The apex exists but holds no records of its own.
                    resp.metadata.authoritative = true;
                    return reply(resp, ResponseCode::NoError, &req, udp);
                } else {
                    name.strip_suffix(suffix.as_str())
                        .and_then(|r| r.strip_suffix('.'))
                };
                let Some(rest) = rest.filter(|r| !r.is_empty()) else {
                    return reply(resp, ResponseCode::Refused, &req, udp);
                };
                resp.metadata.authoritative = true;
                match class_ok.then(|| self.zone.lookup_host(rest)).flatten() {
                    Some(ips) => ips,
                    None => return reply(resp, ResponseCode::NXDomain, &req, udp),
                }
            }
        };
        let found_v4 = found.clone();
        if matches!(query.query_type(), RecordType::A | RecordType::ANY) {
            let mut ips = found;
            let turn = self.rr.fetch_add(1, Ordering::Relaxed) % ips.len();
            ips.rotate_left(turn);
            resp.answers = ips
                .into_iter()
                .map(|ip| Record::from_rdata(query.name().clone(), ANSWER_TTL, RData::A(A(ip))))
                .collect();
        }
        if matches!(query.query_type(), RecordType::AAAA | RecordType::ANY) {
            // Endpoints on `--ipv6` networks; the others' names answer AAAA with nothing.
            resp.answers
                .extend(self.zone.v6_of(&found_v4).into_iter().map(|ip| {
                    Record::from_rdata(query.name().clone(), ANSWER_TTL, RData::AAAA(AAAA(ip)))
                }));
        }
        // Every other type of a known name (and AAAA of one without IPv6): empty NOERROR, so
        // clients fall back to A at once instead of asking upstream servers that cannot know
        // the name.
        reply(resp, ResponseCode::NoError, &req, udp)
    }
}

/// Encodes `resp` with `code`, truncating (TC, no answers) when it exceeds what the UDP client
/// accepts so it retries over TCP.
fn reply(mut resp: Message, code: ResponseCode, req: &Message, udp: bool) -> Decision {
    resp.metadata.response_code = code;
    let Ok(bytes) = resp.to_vec() else {
        return Decision::Drop;
    };
    let limit = match &req.edns {
        Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
        None => 512,
    };
    if !udp || bytes.len() <= limit {
        return Decision::Reply(bytes);
    }
    resp.answers.clear();
    resp.metadata.truncation = true;
    match resp.to_vec() {
        Ok(bytes) => Decision::Reply(bytes),
        Err(_) => Decision::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(view: ServerView, upstreams: Vec<SocketAddr>) -> Shared {
        Shared {
            view,
            zone: Zone::new(),
            upstreams,
            rr: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            tcp_conns: AtomicUsize::new(0),
        }
    }

    fn answer_of(d: Decision) -> Message {
        match d {
            Decision::Reply(b) => Message::from_vec(&b).unwrap(),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn wake_address_maps_wildcards_to_loopback() {
        assert_eq!(
            wake_addr("0.0.0.0:5353".parse().unwrap()),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            wake_addr("[::]:53".parse().unwrap()),
            "[::1]:53".parse().unwrap()
        );
        assert_eq!(
            wake_addr("172.18.0.1:53".parse().unwrap()),
            "172.18.0.1:53".parse().unwrap()
        );
    }

    #[test]
    fn reply_matching_needs_the_id_and_the_response_bit() {
        let mut r = Message::response(7, OpCode::Query).to_vec().unwrap();
        assert!(is_reply_to(&r, 7));
        assert!(!is_reply_to(&r, 8));
        r[2] &= 0x7f;
        assert!(!is_reply_to(&r, 7));
        assert!(!is_reply_to(&r[..5], 7));
    }

    #[test]
    fn odd_queries_get_formerr_notimp_and_forward_decisions() {
        let s = shared(ServerView::Network("n".into()), vec![]);
        // No question at all.
        let empty = Message::query().to_vec().unwrap();
        assert_eq!(
            answer_of(s.decide(&empty, true, None))
                .metadata
                .response_code,
            ResponseCode::FormErr
        );
        let mut notify = Message::query();
        notify.metadata.op_code = OpCode::Notify;
        let resp = answer_of(s.decide(&notify.to_vec().unwrap(), true, None));
        assert_eq!(resp.metadata.response_code, ResponseCode::NotImp);
        assert_eq!(resp.metadata.id, notify.metadata.id);

        let mut q = Message::query();
        q.add_query(hickory_proto::op::Query::query(
            hickory_proto::rr::Name::from_ascii("example.com.").unwrap(),
            RecordType::A,
        ));
        let bytes = q.to_vec().unwrap();
        let resp = answer_of(s.decide(&bytes, true, None));
        assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
        assert!(!resp.metadata.recursion_available);

        let up = shared(
            ServerView::Network("n".into()),
            vec!["192.0.2.1:53".parse().unwrap()],
        );
        match up.decide(&bytes, true, None) {
            Decision::Forward { id, servfail } => {
                assert_eq!(id, q.metadata.id);
                let sf = Message::from_vec(&servfail).unwrap();
                assert_eq!(sf.metadata.response_code, ResponseCode::ServFail);
                assert_eq!(sf.metadata.id, id);
                assert_eq!(sf.queries, q.queries);
            }
            other => panic!("expected a forward, got {other:?}"),
        }
    }
}
