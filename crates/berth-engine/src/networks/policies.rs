//! Network policies (micro-segmentation, a Berth extension with Kubernetes NetworkPolicy's
//! semantics): a policy selects containers by labels; a container selected by any policy with
//! an ingress (egress) part accepts (sends) only what some such policy's rules allow —
//! policies add up. Rules name peers by label selectors (any one matching; none: every
//! container of the network) and ports (none: every port). Enforced between containers of a
//! network in Berth's `bridge berth` table, recomputed whenever a container starts or stops.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_models::network::{NetworkPolicy, PolicyRule};
use rusqlite::params;

use super::Networks;
use crate::{Error, Result};

/// A container's labels by its id.
pub type LabelsOf = Box<dyn Fn(&str) -> BTreeMap<String, String> + Send + Sync>;

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

/// A label key or value as Docker allows them (printable, no `=` in keys, not empty keys).
fn check_selector(what: &str, sel: &BTreeMap<String, String>) -> Result<()> {
    for (k, v) in sel {
        let key_ok = !k.is_empty()
            && k.len() <= 253
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
        if !key_ok {
            return Err(bad(format!("invalid label key {k:?} in {what}")));
        }
        if v.chars().any(|c| c.is_control()) {
            return Err(bad(format!("invalid label value {v:?} in {what}")));
        }
    }
    Ok(())
}

/// `80/tcp`, `53/udp`, `5432` (tcp): checked.
fn parse_port(p: &str) -> Result<(String, u16)> {
    let (port, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad(format!(
            "invalid port {p:?}: the protocol must be tcp, udp or sctp"
        )));
    }
    let n: u16 = port
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| bad(format!("invalid port {p:?}")))?;
    Ok((proto, n))
}

/// Check a policy as created (name, selectors, ports).
pub fn check(p: &NetworkPolicy) -> Result<()> {
    if p.name.is_empty()
        || !p
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(bad(format!("invalid policy name {:?}", p.name)));
    }
    if p.selector.is_empty() {
        return Err(bad(
            "a policy needs a selector (the labels of the containers it applies to)",
        ));
    }
    check_selector("the selector", &p.selector)?;
    if p.ingress.is_none() && p.egress.is_none() {
        return Err(bad(
            "a policy restricts ingress, egress or both: give rules (an empty list denies all)",
        ));
    }
    for r in p.ingress.iter().chain(p.egress.iter()).flatten() {
        for peer in &r.peers {
            check_selector("a rule's peers", peer)?;
        }
        for port in &r.ports {
            parse_port(port)?;
        }
    }
    Ok(())
}

fn matches(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

impl Networks {
    /// Create a policy (names are unique) and apply it.
    pub fn create_policy(&self, mut p: NetworkPolicy) -> Result<NetworkPolicy> {
        check(&p)?;
        p.created = crate::time::now_rfc3339();
        let record = serde_json::to_string(&p).map_err(Error::internal)?;
        let _g = crate::db::guard(&self.lock);
        let n = self.db().execute(
            "INSERT OR IGNORE INTO network_policies (name, record) VALUES (?1, ?2)",
            params![p.name, record],
        )?;
        if n == 0 {
            return Err(Error::Conflict(format!(
                "network policy {} already exists",
                p.name
            )));
        }
        self.apply_firewall()?;
        Ok(p)
    }

    pub fn policies(&self) -> Result<Vec<NetworkPolicy>> {
        let db = self.db();
        let mut q = db.prepare_cached("SELECT record FROM network_policies ORDER BY name")?;
        let rows: Vec<String> = q
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .iter()
            .filter_map(|r| serde_json::from_str(r).ok())
            .collect())
    }

    pub fn policy(&self, name: &str) -> Result<NetworkPolicy> {
        self.policies()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::NotFound(format!("network policy {name} not found")))
    }

    pub fn remove_policy(&self, name: &str) -> Result<()> {
        let _g = crate::db::guard(&self.lock);
        let n = self.db().execute(
            "DELETE FROM network_policies WHERE name = ?1",
            params![name],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("network policy {name} not found")));
        }
        self.apply_firewall()
    }

    pub(crate) fn has_policies(&self) -> bool {
        self.db()
            .query_row("SELECT 1 FROM network_policies LIMIT 1", [], |_| Ok(()))
            .is_ok()
    }

    /// What the policies make of the running containers' endpoints.
    pub(crate) fn policy_flows(&self) -> Result<berth_net::firewall::Flows> {
        use berth_net::firewall::{Flow, Flows};
        let policies = self.policies()?;
        let mut flows = Flows::default();
        if policies.is_empty() {
            return Ok(flows);
        }
        let labels_of = |id: &str| self.labels.get().map(|f| f(id)).unwrap_or_default();
        let eps: Vec<(String, Ipv4Addr, BTreeMap<String, String>)> = self
            .all_endpoints()?
            .into_iter()
            .map(|e| {
                let l = labels_of(&e.container);
                (e.network, e.ip, l)
            })
            .collect();
        let allowed = |rules: &[PolicyRule],
                       me: &(String, Ipv4Addr, BTreeMap<String, String>),
                       ingress: bool| {
            let mut out = Vec::new();
            for r in rules {
                let peers = eps.iter().filter(|p| {
                    p.0 == me.0
                        && p.1 != me.1
                        && (r.peers.is_empty() || r.peers.iter().any(|s| matches(s, &p.2)))
                });
                for p in peers {
                    let (src, dst) = if ingress { (p.1, me.1) } else { (me.1, p.1) };
                    if r.ports.is_empty() {
                        out.push(Flow {
                            src,
                            dst,
                            port: None,
                        });
                    }
                    for port in &r.ports {
                        out.push(Flow {
                            src,
                            dst,
                            port: parse_port(port).ok(),
                        });
                    }
                }
            }
            out
        };
        for p in &policies {
            for me in eps.iter().filter(|e| matches(&p.selector, &e.2)) {
                if let Some(rules) = &p.ingress {
                    flows.ingress_isolated.push(me.1);
                    flows.ingress_allowed.extend(allowed(rules, me, true));
                }
                if let Some(rules) = &p.egress {
                    flows.egress_isolated.push(me.1);
                    flows.egress_allowed.extend(allowed(rules, me, false));
                }
            }
        }
        for v in [&mut flows.ingress_isolated, &mut flows.egress_isolated] {
            v.sort();
            v.dedup();
        }
        for v in [&mut flows.ingress_allowed, &mut flows.egress_allowed] {
            v.sort();
            v.dedup();
        }
        Ok(flows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(s: &[(&str, &str)]) -> BTreeMap<String, String> {
        s.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn bad_policies_are_named() {
        let good = NetworkPolicy {
            name: "db".into(),
            selector: sel(&[("app", "db")]),
            ingress: Some(vec![PolicyRule {
                peers: vec![sel(&[("app", "api")])],
                ports: vec!["5432/tcp".into()],
            }]),
            ..Default::default()
        };
        check(&good).unwrap();
        let mut p = good.clone();
        p.selector = sel(&[("app=x", "db")]);
        assert!(check(&p).unwrap_err().to_string().contains("app=x"));
        let mut p = good.clone();
        p.ingress.as_mut().unwrap()[0].ports = vec!["5432/icmp".into()];
        assert!(check(&p).unwrap_err().to_string().contains("5432/icmp"));
        let mut p = good.clone();
        p.selector.clear();
        assert!(check(&p).is_err());
        let mut p = good;
        p.ingress = None;
        assert!(
            check(&p)
                .unwrap_err()
                .to_string()
                .contains("ingress, egress")
        );
    }
}
