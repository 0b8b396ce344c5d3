//! The embedded DNS server over real sockets, on loopback only: local answers, round-robin,
//! forwarding, the host view, live zone updates, junk input, TCP and stopping.

// A test reports failure by panicking: unwrap and expect are its assertions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use berth_net::dns::{ANSWER_TTL, DnsServer, ServerView, Zone, upstreams_from_resolv_conf};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};

const WEB1: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);
const WEB2: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 3);
const WEB3: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 4);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn request(name: &str, rtype: RecordType) -> Message {
    let mut m = Message::query();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m
}

/// Sends raw bytes and waits up to `wait` for one datagram back.
fn exchange_raw(server: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind(loopback()).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.send_to(bytes, server).unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(buf[..n].to_vec())
}

fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> (u16, Message) {
    let req = request(name, rtype);
    let bytes = exchange_raw(server, &req.to_vec().unwrap(), Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no answer for {name}"));
    let resp = Message::from_vec(&bytes).unwrap();
    assert_eq!(
        resp.metadata.id, req.metadata.id,
        "answer carries the query's id"
    );
    assert_eq!(resp.metadata.message_type, MessageType::Response);
    (req.metadata.id, resp)
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect()
}

fn network_server(zone: &Zone, upstreams: Vec<SocketAddr>) -> DnsServer {
    DnsServer::start(
        loopback(),
        ServerView::Network("net1".into()),
        zone.clone(),
        upstreams,
    )
    .unwrap()
}

/// A fake upstream on loopback: answers every A query with [`REMOTE`] (same id, as a real
/// server does) and reports the ids it saw.
fn fake_upstream() -> (SocketAddr, mpsc::Receiver<u16>) {
    let sock = UdpSocket::bind(loopback()).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let Ok(q) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut r = Message::response(q.metadata.id, OpCode::Query);
            r.metadata.recursion_available = true;
            r.queries = q.queries.clone();
            let name = q.queries[0].name().clone();
            r.add_answer(Record::from_rdata(name, 42, RData::A(A(REMOTE))));
            let _ = sock.send_to(&r.to_vec().unwrap(), from);
            if tx.send(q.metadata.id).is_err() {
                return;
            }
        }
    });
    (addr, rx)
}

#[test]
fn known_names_get_a_records_other_types_empty_noerror() {
    let zone = Zone::new();
    zone.set("net1", "web", vec![WEB1]);
    let server = network_server(&zone, vec![]);
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);

    let (_, resp) = ask(addr, "web", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&resp), vec![WEB1]);
    assert_eq!(resp.answers[0].ttl, ANSWER_TTL);
    assert_eq!(resp.queries.len(), 1);

    // Case-insensitive, trailing dot ignored; the answer echoes the name as asked.
    let (_, resp) = ask(addr, "WeB.", RecordType::A);
    assert_eq!(a_records(&resp), vec![WEB1]);
    assert_eq!(resp.answers[0].name.to_ascii(), "WeB.");

    let (_, resp) = ask(addr, "web", RecordType::ANY);
    assert_eq!(a_records(&resp), vec![WEB1]);

    for t in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let (_, resp) = ask(addr, "web", t);
        assert_eq!(resp.metadata.response_code, ResponseCode::NoError, "{t}");
        assert!(resp.answers.is_empty(), "{t}");
    }
    // Other views' names are not visible.
    zone.set("net2", "db", vec![WEB2]);
    let (_, resp) = ask(addr, "db", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn shared_alias_rotates_per_query() {
    let zone = Zone::new();
    for ip in [WEB1, WEB2, WEB3] {
        zone.add("net1", "api", ip);
    }
    let server = network_server(&zone, vec![]);
    let mut firsts = Vec::new();
    for _ in 0..3 {
        let (_, resp) = ask(server.local_addr(), "api", RecordType::A);
        let mut ips = a_records(&resp);
        firsts.push(ips[0]);
        ips.sort();
        assert_eq!(ips, vec![WEB1, WEB2, WEB3]);
    }
    firsts.sort();
    firsts.dedup();
    assert_eq!(firsts.len(), 3, "each query starts with another address");
}

#[test]
fn unknown_names_are_forwarded_and_relayed_with_the_client_id() {
    let (up, seen) = fake_upstream();
    // A first upstream where nobody listens: the server moves on to the next at once.
    let dead = UdpSocket::bind(loopback()).unwrap().local_addr().unwrap();
    let zone = Zone::new();
    zone.set("net1", "web", vec![WEB1]);
    let server = network_server(&zone, vec![dead, up]);

    let started = Instant::now();
    let (id, resp) = ask(server.local_addr(), "example.com", RecordType::A);
    assert_eq!(seen.recv_timeout(Duration::from_secs(5)).unwrap(), id);
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&resp), vec![REMOTE]);
    assert_eq!(resp.answers[0].ttl, 42, "relayed as is");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "refused upstream skipped"
    );

    // Known names never reach the upstream.
    let (_, resp) = ask(server.local_addr(), "web", RecordType::A);
    assert_eq!(a_records(&resp), vec![WEB1]);
    assert!(seen.recv_timeout(Duration::from_millis(200)).is_err());
}

#[test]
fn silent_upstream_gives_servfail_after_the_timeout() {
    // Bound but never read: queries to it just time out.
    let silent = UdpSocket::bind(loopback()).unwrap();
    let zone = Zone::new();
    let server = network_server(&zone, vec![silent.local_addr().unwrap()]);
    let started = Instant::now();
    let (_, resp) = ask(server.local_addr(), "example.com", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::ServFail);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[test]
fn host_view_answers_its_suffix_only_and_never_forwards() {
    let (up, seen) = fake_upstream();
    let zone = Zone::new();
    zone.set("aaa", "web", vec![WEB1]);
    zone.set("bbb", "web", vec![WEB2]);
    zone.set_label("bbb", Some("backend"));
    let server = DnsServer::start(
        loopback(),
        ServerView::Host {
            suffix: ".Berth.".into(),
        },
        zone.clone(),
        vec![up],
    )
    .unwrap();
    let addr = server.local_addr();

    let (_, resp) = ask(addr, "web.berth", RecordType::A);
    assert_eq!(a_records(&resp), vec![WEB1], "first view in key order wins");
    assert!(resp.metadata.authoritative);
    let (_, resp) = ask(addr, "WEB.bbb.berth.", RecordType::A);
    assert_eq!(a_records(&resp), vec![WEB2]);
    let (_, resp) = ask(addr, "web.backend.berth", RecordType::A);
    assert_eq!(a_records(&resp), vec![WEB2]);

    let (_, resp) = ask(addr, "nope.berth", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    let (_, resp) = ask(addr, "berth", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert!(resp.answers.is_empty());

    for outside in ["example.com", "web", "web.notberth"] {
        let (_, resp) = ask(addr, outside, RecordType::A);
        assert_eq!(
            resp.metadata.response_code,
            ResponseCode::Refused,
            "{outside}"
        );
        assert!(resp.answers.is_empty());
    }
    assert!(
        seen.recv_timeout(Duration::from_millis(300)).is_err(),
        "the host view never forwards"
    );
}

#[test]
fn zone_updates_are_visible_at_once() {
    let zone = Zone::new();
    let server = network_server(&zone, vec![]);
    let addr = server.local_addr();

    let (_, resp) = ask(addr, "web", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    zone.add("net1", "web", WEB1);
    zone.add("net1", "3f2a9c1b7d4e", WEB1);
    assert_eq!(a_records(&ask(addr, "web", RecordType::A).1), vec![WEB1]);
    assert_eq!(
        a_records(&ask(addr, "3f2a9c1b7d4e", RecordType::A).1),
        vec![WEB1]
    );
    zone.set("net1", "web", vec![WEB2]);
    assert_eq!(a_records(&ask(addr, "web", RecordType::A).1), vec![WEB2]);
    zone.remove_ip("net1", WEB2);
    let (_, resp) = ask(addr, "web", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
    assert!(resp.answers.is_empty());
    zone.remove_view("net1");
    let (_, resp) = ask(addr, "3f2a9c1b7d4e", RecordType::A);
    assert_eq!(resp.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn malformed_packets_are_ignored_and_serving_goes_on() {
    let zone = Zone::new();
    zone.set("net1", "web", vec![WEB1]);
    let server = network_server(&zone, vec![]);
    let addr = server.local_addr();
    let quiet = Duration::from_millis(300);

    assert!(exchange_raw(addr, &[0x12, 0x34, 0x01], quiet).is_none());
    assert!(exchange_raw(addr, &[0xff; 40], quiet).is_none());
    assert!(exchange_raw(addr, &[], quiet).is_none());
    // A response is not a query: no reply, so two servers cannot ping-pong.
    let mut resp = request("web", RecordType::A);
    resp.metadata.message_type = MessageType::Response;
    assert!(exchange_raw(addr, &resp.to_vec().unwrap(), quiet).is_none());

    assert_eq!(a_records(&ask(addr, "web", RecordType::A).1), vec![WEB1]);
}

fn tcp_ask(server: SocketAddr, req: &Message) -> Message {
    let mut s = TcpStream::connect(server).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let bytes = req.to_vec().unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&bytes);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

#[test]
fn large_answers_truncate_over_udp_and_come_whole_over_tcp() {
    let zone = Zone::new();
    let many: Vec<Ipv4Addr> = (1..=60).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
    zone.set("net1", "big", many.clone());
    zone.set("net1", "web", vec![WEB1]);
    let server = network_server(&zone, vec![]);

    let (_, resp) = ask(server.local_addr(), "big", RecordType::A);
    assert!(resp.metadata.truncation);
    assert!(resp.answers.is_empty());

    let req = request("big", RecordType::A);
    let resp = tcp_ask(server.local_addr(), &req);
    assert_eq!(resp.metadata.id, req.metadata.id);
    assert!(!resp.metadata.truncation);
    let mut got = a_records(&resp);
    got.sort();
    assert_eq!(got, many);

    let resp = tcp_ask(server.local_addr(), &request("web", RecordType::A));
    assert_eq!(a_records(&resp), vec![WEB1]);
}

#[test]
fn stop_is_prompt_and_frees_the_port() {
    let zone = Zone::new();
    let server = network_server(&zone, vec![]);
    let addr = server.local_addr();
    let started = Instant::now();
    server.stop();
    assert!(started.elapsed() < Duration::from_secs(1));
    UdpSocket::bind(addr).expect("UDP port free after stop");
    TcpListener::bind(addr).expect("TCP port free after stop");

    // Dropping does the same, and the same address can serve again.
    let again = DnsServer::start(
        addr,
        ServerView::Network("net1".into()),
        zone.clone(),
        vec![],
    )
    .unwrap();
    assert_eq!(again.local_addr(), addr);
    drop(again);
    UdpSocket::bind(addr).expect("UDP port free after drop");
}

#[test]
fn resolv_conf_upstreams_feed_the_server() {
    let ups = upstreams_from_resolv_conf(
        "nameserver 127.0.0.53\n",
        Some("nameserver 192.0.2.1\nnameserver 192.0.2.2\n"),
    );
    assert_eq!(
        ups,
        vec![
            "192.0.2.1:53".parse::<SocketAddr>().unwrap(),
            "192.0.2.2:53".parse().unwrap()
        ]
    );
}
