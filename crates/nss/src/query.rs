//! The one DNS question the module asks: the A records of a name, over UDP, of one server on
//! loopback. Hand-written (a query and the answer section) because the module is loaded into
//! every process that resolves a name and should pull in nothing.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

/// What a server said about a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Its IPv4 addresses, and the smallest TTL among them.
    Found {
        /// The addresses, in the server's order.
        addrs: Vec<Ipv4Addr>,
        /// Seconds the answer may be kept.
        ttl: u32,
    },
    /// No such name (`NXDOMAIN`), or a name with no A record.
    NotFound,
}

/// Asks `server` for the A records of `name`, waiting at most `timeout`.
pub fn lookup_a(server: SocketAddr, name: &str, timeout: Duration) -> io::Result<Answer> {
    let sock = UdpSocket::bind(if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    })?;
    sock.connect(server)?;
    sock.set_read_timeout(Some(timeout))?;
    let id = (std::process::id() as u16) ^ (nanos() as u16);
    sock.send(&encode(id, name)?)?;
    let mut buf = [0u8; 1500];
    loop {
        let n = sock.recv(&mut buf)?;
        match decode(id, &buf[..n]) {
            Some(answer) => return Ok(answer),
            None => continue, // not the answer to this question
        }
    }
}

fn nanos() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// A recursive-desired query for `name` A IN.
pub fn encode(id: u16, name: &str) -> io::Result<Vec<u8>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "not a DNS name");
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(bad());
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    if q.len() > 12 + 255 {
        return Err(bad());
    }
    q.extend_from_slice(&[0, 1, 0, 1]);
    Ok(q)
}

/// Reads the answer to query `id`; `None` when `msg` is not that answer or is malformed.
pub fn decode(id: u16, msg: &[u8]) -> Option<Answer> {
    let u16_at = |i: usize| Some(u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]));
    if u16_at(0)? != id || msg.get(2)? & 0x80 == 0 {
        return None;
    }
    let rcode = msg.get(3)? & 0x0f;
    if rcode == 3 {
        return Some(Answer::NotFound);
    }
    if rcode != 0 {
        return None;
    }
    let (qd, an) = (u16_at(4)?, u16_at(6)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at)? + 4;
    }
    let mut addrs = Vec::new();
    let mut ttl = u32::MAX;
    for _ in 0..an {
        at = skip_name(msg, at)?;
        let (typ, class) = (u16_at(at)?, u16_at(at + 2)?);
        let t = u32::from_be_bytes(msg.get(at + 4..at + 8)?.try_into().ok()?);
        let len = usize::from(u16_at(at + 8)?);
        let data = msg.get(at + 10..at + 10 + len)?;
        if typ == 1 && class == 1 && len == 4 {
            addrs.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
            ttl = ttl.min(t);
        }
        at += 10 + len;
    }
    Some(if addrs.is_empty() {
        Answer::NotFound
    } else {
        Answer::Found { addrs, ttl }
    })
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l => at += 1 + usize::from(l),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(id: u16, rcode: u8, records: &[([u8; 4], u32)]) -> Vec<u8> {
        let mut m = encode(id, "web.berth").unwrap();
        m[2] = 0x81;
        m[3] = 0x80 | rcode;
        m[7] = records.len() as u8;
        for (ip, ttl) in records {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 4]);
            m.extend_from_slice(ip);
        }
        m
    }

    #[test]
    fn queries_and_answers() {
        let q = encode(7, "web.berth.").unwrap();
        assert_eq!(&q[12..], b"\x03web\x05berth\x00\x00\x01\x00\x01");
        assert!(encode(1, "a..b").is_err());
        let a = answer(7, 0, &[([10, 0, 0, 2], 5), ([10, 0, 0, 3], 3)]);
        assert_eq!(
            decode(7, &a),
            Some(Answer::Found {
                addrs: vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)],
                ttl: 3
            })
        );
        assert_eq!(decode(8, &a), None, "another query's answer");
        assert_eq!(decode(7, &answer(7, 3, &[])), Some(Answer::NotFound));
        assert_eq!(decode(7, &answer(7, 0, &[])), Some(Answer::NotFound));
        assert_eq!(decode(7, &a[..a.len() - 3]), None, "truncated");
    }
}
