//! Bandwidth limits: a token-bucket (TBF) root qdisc on a veth end, through the `tc` binary
//! (rtnetlink 0.24 builds ingress qdiscs and u32 filters only, not TBF). Traffic into a
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

/// Shape `dev` (in the namespace at `netns`, or the current one) to `bits_per_sec`.
pub fn limit(netns: Option<&Path>, dev: &str, bits_per_sec: u64) -> Result<()> {
    // A bucket of 10 ms of traffic (at least 32 KiB so small rates still pass full frames).
    let burst = (bits_per_sec / 8 / 100).max(32 * 1024);
    let args = vec![
        "qdisc".to_owned(),
        "replace".into(),
        "dev".into(),
        dev.to_owned(),
        "root".into(),
        "tbf".into(),
        "rate".into(),
        format!("{bits_per_sec}bit"),
        "burst".into(),
        burst.to_string(),
        "latency".into(),
        "100ms".into(),
    ];
    let run = move || -> Result<()> {
        let out = std::process::Command::new("tc")
            .args(&args)
            .output()
            .map_err(|e| kernel("tc (is iproute2 installed?)", e))?;
        if !out.status.success() {
            return Err(kernel(
                format!("tc {}", args.join(" ")),
                String::from_utf8_lossy(&out.stderr).trim(),
            ));
        }
        Ok(())
    };
    match netns {
        Some(p) => crate::netns::run_in(p, run),
        None => run(),
    }
}
