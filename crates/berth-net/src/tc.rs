//! Bandwidth limits: a token-bucket (TBF) root qdisc on a veth end, over rtnetlink (its
//! message types; TBF's parameters written as the kernel's `tc_tbf_qopt`, which
//! netlink-packet-route has no type for). Traffic into a
//! container is shaped on the host end, traffic out of it on the container's own end
//! (shaping where packets queue; policing would drop TCP below the rate).

use std::path::Path;

use crate::{Error, Result, kernel};

/// A rate as `tc` and Docker users write it: `8mbit`, `500kbit`, `1gbit`, `10mbps` (bytes),
/// or plain bits per second. Bits per second.
pub fn parse_rate(s: &str) -> Result<u64> {
    let bad = || Error::Invalid(format!("invalid rate: {s:?} (e.g. 8mbit, 500kbit, 10mbps)"));
    let l = s.trim().to_lowercase();
    let end = l
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(l.len());
    let (n, unit) = l.split_at(end);
    let n: f64 = n.parse().map_err(|_| bad())?;
    let mul = match unit {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return Err(bad()),
    };
    let bits = (n * mul) as u64;
    if bits < 8_000 {
        return Err(Error::Invalid(format!(
            "invalid rate: {s:?} (at least 8kbit)"
        )));
    }
    Ok(bits)
}

/// `struct tc_ratespec`.
fn ratespec(bytes_per_sec: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[1] = 1; // linklayer: ethernet (no rate table needed)
    b[8..12].copy_from_slice(&bytes_per_sec.to_ne_bytes());
    b
}

/// TBF's parameters (`struct tc_tbf_qopt` and the burst) for a rate and a burst in bytes,
/// queueing at most `latency_ms` of traffic.
fn tbf_options(bits_per_sec: u64, burst: u32, latency_ms: u64) -> Vec<(u16, Vec<u8>)> {
    let bytes = bits_per_sec / 8;
    // The bucket's depth in scheduler ticks (64 ns each: PSCHED_SHIFT 6).
    let buffer_ns = u64::from(burst) * 1_000_000_000 / bytes.max(1);
    let buffer = u32::try_from(buffer_ns >> 6).unwrap_or(u32::MAX);
    let limit = u32::try_from(bytes * latency_ms / 1000 + u64::from(burst)).unwrap_or(u32::MAX);
    let mut qopt = Vec::with_capacity(36);
    qopt.extend_from_slice(&ratespec(u32::try_from(bytes).unwrap_or(u32::MAX)));
    qopt.extend_from_slice(&[0u8; 12]); // no peak rate
    qopt.extend_from_slice(&limit.to_ne_bytes());
    qopt.extend_from_slice(&buffer.to_ne_bytes());
    qopt.extend_from_slice(&0u32.to_ne_bytes()); // mtu (peak rate only)
    let mut opts = vec![
        (1, qopt),                         // TCA_TBF_PARMS
        (6, burst.to_ne_bytes().to_vec()), // TCA_TBF_BURST
    ];
    if bytes > u64::from(u32::MAX) {
        opts.push((4, bytes.to_ne_bytes().to_vec())); // TCA_TBF_RATE64
    }
    opts
}

/// Shape `dev` (in the namespace at `netns`, or the current one) to `bits_per_sec`: a root
/// TBF qdisc, made (or replaced) over rtnetlink.
pub fn limit(netns: Option<&Path>, dev: &str, bits_per_sec: u64) -> Result<()> {
    use futures_util::StreamExt;
    use rtnetlink::packet_core::{
        DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
    };
    use rtnetlink::packet_route::RouteNetlinkMessage;
    use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage, TcOption};
    // A bucket of 10 ms of traffic (at least 32 KiB so small rates still pass full frames).
    let burst = u32::try_from((bits_per_sec / 8 / 100).max(32 * 1024)).unwrap_or(u32::MAX);
    let dev = dev.to_owned();
    crate::link::with_netlink(netns, move |mut h| async move {
        let index = crate::link::index_of(&h, &dev)
            .await?
            .ok_or_else(|| kernel(format!("tbf on {dev}"), "no such device"))?;
        let mut msg = TcMessage::with_index(index as i32);
        msg.header.parent = TcHandle::ROOT;
        msg.attributes.push(TcAttribute::Kind("tbf".into()));
        msg.attributes.push(TcAttribute::Options(
            tbf_options(bits_per_sec, burst, 100)
                .into_iter()
                .map(|(k, v)| TcOption::Other(DefaultNla::new(k, v)))
                .collect(),
        ));
        let mut req = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(msg));
        req.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        let mut answers = h
            .request(req)
            .map_err(|e| kernel(format!("tbf on {dev}"), e))?;
        while let Some(m) = answers.next().await {
            if let rtnetlink::packet_core::NetlinkPayload::Error(e) = m.payload {
                if e.code.is_some() {
                    return Err(kernel(format!("tbf on {dev}"), e));
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_tbf_parameters() {
        assert_eq!(parse_rate("8mbit").expect("rate"), 8_000_000);
        assert_eq!(parse_rate("1mbps").expect("rate"), 8_000_000);
        assert!(parse_rate("1kbit").is_err());
        assert!(parse_rate("fast").is_err());
        let o = tbf_options(8_000_000, 32 * 1024, 100);
        let q = &o[0].1;
        assert_eq!(q.len(), 36);
        assert_eq!(
            u32::from_ne_bytes(q[8..12].try_into().expect("rate")),
            1_000_000
        );
        // 32 KiB at 1 MB/s: 32.768 ms = 512000 ticks of 64 ns.
        assert_eq!(
            u32::from_ne_bytes(q[28..32].try_into().expect("buffer")),
            512_000
        );
        // limit: 100 ms of traffic plus the bucket.
        assert_eq!(
            u32::from_ne_bytes(q[24..28].try_into().expect("limit")),
            100_000 + 32 * 1024
        );
        assert_eq!(o.len(), 2);
    }
}
