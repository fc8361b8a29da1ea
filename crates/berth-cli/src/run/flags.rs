//! Docker's flag syntaxes for `run`/`create`: sizes (`64m`), Go durations (`1m30s`),
//! `--env-file`/`--label-file`, relative binds, CPUs, `-p`/`--expose` port specs — with
//! docker's error texts.

use anyhow::{Result, anyhow, bail};
use berth_models::container::{PortBinding, PortMap};

/// Docker's RAMInBytes: `512`, `64k`, `512m`, `1g` (binary units).
pub fn ram_in_bytes(flag: &str, v: &str) -> Result<i64> {
    let bad = || anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: invalid size: '{v}'");
    let lower = v.trim().to_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (n, unit) = lower.split_at(digits_end);
    let n: f64 = n.parse().map_err(|_| bad())?;
    let mul: f64 = match unit.trim_end_matches('b').trim_end_matches('i') {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    Ok((n * mul) as i64)
}

/// `-v` as docker's CLI sends it: a relative host path (`./data:/x`) made absolute; a bare
/// name is a named volume.
pub fn absolute_bind(v: &str) -> Result<String> {
    let Some((src, rest)) = v.split_once(':') else {
        return Ok(v.to_owned());
    };
    if src.starts_with('.') || src.starts_with('~') {
        let base = if let Some(r) = src.strip_prefix('~') {
            std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                .join(r.trim_start_matches('/'))
        } else {
            std::env::current_dir()?.join(src)
        };
        return Ok(format!("{}:{rest}", base.display()));
    }
    Ok(v.to_owned())
}

/// A Go duration (`1m30s`, `500ms`, `10s`) in nanoseconds.
pub fn go_duration(flag: &str, v: &str) -> Result<i64> {
    berth_units::parse_go_duration(v).ok_or_else(|| {
        anyhow!("invalid argument \"{v}\" for \"{flag}\" flag: time: invalid duration \"{v}\"")
    })
}

pub fn bail_flag<T>(flag: &str, v: &str) -> Result<T> {
    Err(anyhow!("invalid argument \"{v}\" for \"{flag}\" flag"))
}

/// The lines of `--env-file`/`--label-file` files, as docker reads them: blank lines and `#`
/// comments skipped, `NAME` alone taken from our environment (env files), no whitespace in
/// names.
pub fn lines_of_files(files: &[String], env_style: bool) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| anyhow!("open {f}: {e}"))?;
        for line in text.lines() {
            let l = line.trim_start();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (name, _) = l.split_once('=').unwrap_or((l, ""));
            if env_style && name.contains(char::is_whitespace) {
                anyhow::bail!(
                    "poorly formatted environment: variable '{name}' contains whitespaces"
                );
            }
            out.push(l.to_owned());
        }
    }
    Ok(out)
}

/// `--cpus 1.5` → nano CPUs.
pub fn nano_cpus(c: &str) -> Result<i64> {
    let n: f64 = c.parse().ok().filter(|n: &f64| *n >= 0.0).ok_or_else(|| {
        anyhow!(
            "invalid argument \"{c}\" for \"--cpus\" flag: failed to parse {c} as a rational number"
        )
    })?;
    Ok((n * 1e9) as i64)
}

fn valid_port(s: &str) -> bool {
    s.parse::<u16>().is_ok_and(|p| p > 0)
}

/// A port or range: `80`, `8000-8010`.
fn port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) if valid_port(a) && valid_port(b) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a <= b).then_some((a, b))
        }
        None if valid_port(s) => {
            let p = s.parse().ok()?;
            Some((p, p))
        }
        _ => None,
    }
}

/// docker's `-p` specs (`[ip:][hostPort:]containerPort[/proto]`, ranges) into
/// `PortBindings`, with docker's error texts.
pub fn port_bindings(specs: &[String]) -> Result<PortMap> {
    let mut out = PortMap::new();
    for spec in specs {
        let (rest, proto) = match spec.rsplit_once('/') {
            Some((r, p)) => (r, p),
            None => (spec.as_str(), "tcp"),
        };
        if !["tcp", "udp", "sctp"].contains(&proto) {
            bail!("invalid proto: {proto}");
        }
        let parts: Vec<&str> = rest.split(':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => ("", "", *c),
            [h, c] => ("", *h, *c),
            [i, h, c] => (*i, *h, *c),
            _ => bail!("invalid port format for --publish: {spec}"),
        };
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            bail!("invalid IP address: {ip}");
        }
        let (c0, c1) = port_range(ctr).ok_or_else(|| anyhow!("invalid containerPort: {ctr}"))?;
        let host_range = if host.is_empty() {
            None
        } else {
            Some(port_range(host).ok_or_else(|| anyhow!("invalid hostPort: {host}"))?)
        };
        if let Some((h0, h1)) = host_range {
            if c1 - c0 != h1 - h0 && c0 != c1 {
                bail!("invalid ranges specified for container and host Ports: {ctr} and {host}");
            }
        }
        for (i, p) in (c0..=c1).enumerate() {
            let hp = match host_range {
                None => String::new(),
                Some((h0, h1)) if c0 == c1 && h0 != h1 => format!("{h0}-{h1}"),
                Some((h0, _)) => (h0 + i as u16).to_string(),
            };
            out.entry(format!("{p}/{proto}"))
                .or_insert(None)
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: ip.to_owned(),
                    host_port: hp,
                });
        }
    }
    Ok(out)
}

/// `--expose 80[/tcp]` or a range.
pub fn exposed(specs: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for s in specs {
        let (p, proto) = s.rsplit_once('/').unwrap_or((s.as_str(), "tcp"));
        if !["tcp", "udp", "sctp"].contains(&proto) {
            bail!("invalid proto: {proto}");
        }
        let (a, b) = port_range(p).ok_or_else(|| {
            anyhow!("invalid range format for --expose: {s}, error: invalid port")
        })?;
        out.extend((a..=b).map(|x| format!("{x}/{proto}")));
    }
    Ok(out)
}

/// `--ulimit NAME=SOFT[:HARD]` values.
pub fn ulimits(specs: &[String]) -> Result<Vec<berth_models::container::Ulimit>> {
    let mut out = Vec::new();
    for u in specs {
        let (name, lim) = u.split_once('=').ok_or_else(|| {
            anyhow::anyhow!(
                "invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit argument: {u}"
            )
        })?;
        let (soft, hard) = lim.split_once(':').unwrap_or((lim, lim));
        let p = |x: &str| {
            x.parse::<i64>().map_err(|_| {
                anyhow::anyhow!(
                    "invalid argument \"{u}\" for \"--ulimit\" flag: invalid ulimit value: {x}"
                )
            })
        };
        out.push(berth_models::container::Ulimit {
            name: name.to_owned(),
            soft: p(soft)?,
            hard: p(hard)?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_parse_like_docker() {
        let m = port_bindings(&[
            "127.0.0.1:18080:80".into(),
            "53/udp".into(),
            "8000-8001:90-91".into(),
        ])
        .expect("parse");
        let b = |ip: &str, port: &str| {
            Some(vec![PortBinding {
                host_ip: ip.into(),
                host_port: port.into(),
            }])
        };
        assert_eq!(m["80/tcp"], b("127.0.0.1", "18080"));
        assert_eq!(m["53/udp"], b("", ""));
        assert_eq!(m["91/tcp"], b("", "8001"));
        for (spec, err) in [
            ("99999", "invalid containerPort: 99999"),
            ("99999:80", "invalid hostPort: 99999"),
            ("1.2.3.4:80", "invalid hostPort: 1.2.3.4"),
            ("80/xyz", "invalid proto: xyz"),
            (
                "8000-8002:80-81",
                "invalid ranges specified for container and host Ports: 80-81 and 8000-8002",
            ),
        ] {
            assert_eq!(
                port_bindings(&[spec.into()]).expect_err(spec).to_string(),
                err
            );
        }
        assert_eq!(
            exposed(&["7000-7001/udp".into()]).expect("expose"),
            ["7000/udp", "7001/udp"]
        );
    }
}
