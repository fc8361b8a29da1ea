//! The embedded DNS server of user-defined networks: it listens on the network's gateway
//! (UDP 53), answers A queries for container names, aliases and short ids on that network
//! (every address of a shared alias, rotated: round-robin), answers AAAA for known names
//! with no records, and relays everything else to the upstream servers. Messages are parsed
//! and built with hickory-proto.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{RData, Record, RecordType};

/// (asking address, name) → addresses; `None` when the name is not known to the asker's
/// networks.
pub type Lookup = Arc<dyn Fn(Ipv4Addr, &str) -> Option<Vec<IpAddr>> + Send + Sync>;

/// Serve DNS on `addr` until the task is dropped/aborted. Queries from outside `allowed`
/// (the network's subnet) are refused.
pub async fn serve(
    addr: SocketAddr,
    allowed: crate::ipam::Subnet,
    lookup: Lookup,
    upstream: Arc<dyn Fn() -> Vec<SocketAddr> + Send + Sync>,
) -> std::io::Result<()> {
    serve_on(bind(addr)?, allowed, lookup, upstream).await
}

/// The server's socket, bound now (queries that come before [`serve_on`] runs wait in it).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    let s = std::net::UdpSocket::bind(addr)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// [`serve`] on a socket bound before.
pub async fn serve_on(
    sock: std::net::UdpSocket,
    allowed: crate::ipam::Subnet,
    lookup: Lookup,
    upstream: Arc<dyn Fn() -> Vec<SocketAddr> + Send + Sync>,
) -> std::io::Result<()> {
    let sock = Arc::new(tokio::net::UdpSocket::from_std(sock)?);
    let turn = Arc::new(AtomicUsize::new(0));
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = sock.recv_from(&mut buf).await?;
        let query = buf[..n].to_vec();
        let asker = match peer {
            SocketAddr::V4(p) if allowed.contains(*p.ip()) => Some(*p.ip()),
            _ => None,
        };
        let (sock, lookup, upstream, turn) =
            (sock.clone(), lookup.clone(), upstream.clone(), turn.clone());
        tokio::spawn(async move {
            let reply = match asker {
                Some(ip) => answer(&query, ip, &lookup, &turn, &upstream()).await,
                None => refuse(&query),
            };
            if let Some(r) = reply {
                let _ = sock.send_to(&r, peer).await;
            }
        });
    }
}

fn refuse(query: &[u8]) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    let mut m = Message::error_msg(q.metadata.id, q.metadata.op_code, ResponseCode::Refused);
    m.queries = q.queries;
    m.to_vec().ok()
}

async fn answer(
    query: &[u8],
    asker: Ipv4Addr,
    lookup: &Lookup,
    turn: &AtomicUsize,
    upstream: &[SocketAddr],
) -> Option<Vec<u8>> {
    let q = Message::from_vec(query).ok()?;
    if q.metadata.message_type != MessageType::Query || q.metadata.op_code != OpCode::Query {
        let mut m = Message::error_msg(q.metadata.id, q.metadata.op_code, ResponseCode::NotImp);
        m.queries = q.queries;
        return m.to_vec().ok();
    }
    let question = q.queries.first()?.clone();
    let name = question.name().to_ascii();
    let short = name.trim_end_matches('.');
    if let Some(ips) = lookup(asker, short) {
        let mut m = Message::response(q.metadata.id, OpCode::Query);
        m.metadata.recursion_desired = q.metadata.recursion_desired;
        m.metadata.recursion_available = true;
        m.metadata.authoritative = true;
        m.add_query(question.clone());
        let wanted: Vec<RData> = ips
            .iter()
            .filter_map(|ip| match (question.query_type(), ip) {
                (RecordType::A, IpAddr::V4(a)) => Some(RData::A(A(*a))),
                (RecordType::AAAA, IpAddr::V6(a)) => Some(RData::AAAA(AAAA(*a))),
                _ => None,
            })
            .collect();
        if !wanted.is_empty() {
            // Round-robin: each answer starts one further along.
            let k = turn.fetch_add(1, Ordering::Relaxed) % wanted.len();
            for r in wanted[k..].iter().chain(&wanted[..k]) {
                m.add_answer(Record::from_rdata(question.name().clone(), 600, r.clone()));
            }
        }
        return m.to_vec().ok();
    }
    // Not ours: relay to the first upstream that answers.
    for up in upstream {
        if let Some(r) = relay(query, *up).await {
            return Some(r);
        }
    }
    let mut m = Message::error_msg(q.metadata.id, OpCode::Query, ResponseCode::ServFail);
    m.add_query(question);
    m.to_vec().ok()
}

async fn relay(query: &[u8], up: SocketAddr) -> Option<Vec<u8>> {
    let bind: SocketAddr = if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
        .parse()
        .ok()?;
    let s = tokio::net::UdpSocket::bind(bind).await.ok()?;
    s.send_to(query, up).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(std::time::Duration::from_secs(2), s.recv(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}
