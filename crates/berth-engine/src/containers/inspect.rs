//! `GET /containers/{id}/json` and `GET /containers/json`: the record and its state in
//! dockerd's shapes, the list with Docker's filters.

use berth_image::images::Images;
use berth_models::Filters;
use berth_models::container::{
    GraphDriver, Inspect, Port, State as WireState, Summary, SummaryHostConfig,
    SummaryNetworkSettings,
};

use super::{Containers, Record, State, Status};
use crate::Result;
use crate::time::parse_rfc3339;

/// The list's filter keys (others are refused, as dockerd refuses them).
pub const FILTER_KEYS: [&str; 13] = [
    "id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network",
    "health", "publish", "expose",
];

/// `GET /containers/json`'s choices.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub all: bool,
    pub filters: Filters,
    pub limit: Option<usize>,
    pub size: bool,
}

/// `State` of inspect from the derived state.
pub fn wire_state(st: &State, health: Option<berth_models::container::Health>) -> WireState {
    WireState {
        status: st.status,
        running: matches!(
            st.status,
            Status::Running | Status::Paused | Status::Restarting
        ),
        paused: st.status == Status::Paused,
        restarting: st.status == Status::Restarting,
        oom_killed: false,
        dead: st.status == Status::Dead,
        pid: st.pid,
        exit_code: st.exit_code,
        error: st.error.clone(),
        started_at: st.started_at.clone(),
        finished_at: st.finished_at.clone(),
        health,
    }
}

/// The list's `Status` column: `Up 5 minutes (healthy)`, `Exited (0) 2 seconds ago`, …
pub fn status_text(st: &State, health: Option<&str>, now: i64) -> String {
    let ago = |t: &str| crate::time::human_duration(now - parse_rfc3339(t).unwrap_or(now));
    match st.status {
        Status::Running => {
            let h = match health {
                Some("starting") => " (health: starting)".to_owned(),
                Some(s) => format!(" ({s})"),
                None => String::new(),
            };
            format!("Up {}{h}", ago(&st.started_at))
        }
        Status::Paused => format!("Up {} (Paused)", ago(&st.started_at)),
        Status::Created => "Created".to_owned(),
        Status::Restarting => format!("Restarting ({}) {} ago", st.exit_code, ago(&st.finished_at)),
        Status::Removing => "Removal In Progress".to_owned(),
        Status::Dead => "Dead".to_owned(),
        Status::Exited => format!("Exited ({}) {} ago", st.exit_code, ago(&st.finished_at)),
    }
}

impl Containers {
    /// `GET /containers/{id}/json`.
    pub fn inspect(&self, id: &str) -> Result<Inspect> {
        let rec = self.record(id)?;
        let st = self.state_of(&rec);
        let dir = self.dir_of(id);
        let health = self.health_of(&rec, &st);
        let exec_ids = self.exec_ids(id)?;
        let path = |p: &str| dir.join(p).display().to_string();
        let mut data = berth_models::Map::new();
        data.insert("UpperDir".into(), path("upper"));
        data.insert("WorkDir".into(), path("work"));
        data.insert("MergedDir".into(), path("rootfs"));
        Ok(Inspect {
            id: rec.id.clone(),
            created: rec.created.clone(),
            path: rec.path.clone(),
            args: rec.args.clone(),
            state: wire_state(&st, health),
            image: rec.image.clone(),
            resolv_conf_path: path("resolv.conf"),
            hostname_path: path("hostname"),
            hosts_path: path("hosts"),
            log_path: self.log_path(id).display().to_string(),
            name: rec.name.clone(),
            restart_count: rec.restart_count,
            driver: "overlay".into(),
            platform: "linux".into(),
            mount_label: String::new(),
            process_label: String::new(),
            app_armor_profile: String::new(),
            exec_ids: (!exec_ids.is_empty()).then_some(exec_ids),
            host_config: rec.host_config.clone(),
            graph_driver: GraphDriver {
                data,
                name: "overlay".into(),
            },
            size_rw: None,
            size_root_fs: None,
            mounts: self.mounts_of(&rec),
            config: rec.config.clone(),
            network_settings: self.networks.settings(id, &rec)?,
        })
    }

    /// `GET /containers/json` entry.
    pub fn summary(&self, rec: &Record, st: &State) -> Result<Summary> {
        let eps = self.networks.endpoints_where("container", &rec.id)?;
        self.summary_with(rec, st, &eps)
    }

    fn summary_with(
        &self,
        rec: &Record,
        st: &State,
        eps: &[crate::networks::Endpoint],
    ) -> Result<Summary> {
        let health = self.health_of(rec, st);
        let ns = self.networks.settings_with(rec, eps)?;
        let mut ports = Vec::new();
        for (key, binds) in &ns.ports {
            let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
            let private: u16 = port.parse().unwrap_or(0);
            match binds {
                Some(list) if !list.is_empty() => {
                    for b in list {
                        ports.push(Port {
                            ip: b.host_ip.clone(),
                            private_port: private,
                            public_port: b.host_port.parse().ok(),
                            r#type: proto.to_owned(),
                        });
                    }
                }
                _ => ports.push(Port {
                    private_port: private,
                    r#type: proto.to_owned(),
                    ..Default::default()
                }),
            }
        }
        Ok(Summary {
            id: rec.id.clone(),
            names: vec![rec.name.clone()],
            image: rec.config.image.clone(),
            image_id: rec.image.clone(),
            command: rec.command_line(),
            created: parse_rfc3339(&rec.created).unwrap_or(0),
            ports,
            size_rw: None,
            size_root_fs: None,
            labels: rec.labels().clone(),
            state: st.status.as_str().to_owned(),
            status: status_text(
                st,
                health.as_ref().map(|h| h.status.as_str()),
                crate::time::now(),
            ),
            host_config: SummaryHostConfig {
                network_mode: rec.host_config.network_mode.clone(),
                annotations: None,
            },
            network_settings: SummaryNetworkSettings {
                networks: ns.networks,
            },
            mounts: self.mounts_of(rec),
        })
    }

    /// `GET /containers/json`: summaries, newest first, with Docker's `filters`, `limit` and
    /// `size`. Values of one key are alternatives; keys must all match.
    pub fn list(&self, images: &Images, o: &ListOptions) -> Result<Vec<Summary>> {
        let f = &o.filters;
        f.check(&FILTER_KEYS)?;
        for v in f.get("status") {
            if Status::parse(v).is_none() {
                return Err(crate::Error::InvalidParameter(format!(
                    "invalid filter 'status={v}'"
                )));
            }
        }
        // `before`/`since` name containers: their creation times bound the list.
        let created_of =
            |key: &str| -> Result<String> { Ok(self.record(&self.resolve(key)?)?.created) };
        let before: Vec<String> = f
            .get("before")
            .iter()
            .map(|v| created_of(v))
            .collect::<Result<_>>()?;
        let since: Vec<String> = f
            .get("since")
            .iter()
            .map(|v| created_of(v))
            .collect::<Result<_>>()?;
        let ancestors: Vec<(String, String)> = f
            .get("ancestor")
            .iter()
            .map(|v| {
                let id = images.resolve(v).map(|i| i.id).unwrap_or_default();
                (v.clone(), id)
            })
            .collect();
        let all = o.all || o.limit.is_some() || f.contains("status") || f.contains("exited");
        let mut out = Vec::new();
        let eps = self.networks.endpoints_by_container()?;
        for rec in self.records()? {
            let st = self.state_of(&rec);
            if !(all || st.alive()) {
                continue;
            }
            let health = || {
                self.health_of(&rec, &st)
                    .map(|h| h.status)
                    .unwrap_or_else(|| "none".into())
            };
            let ok = before.iter().all(|t| rec.created < *t)
                && since.iter().all(|t| rec.created > *t)
                && f.any_or_none("id", |v| rec.id.starts_with(v))
                && f.any_or_none("name", |v| {
                    rec.short_name().contains(v.trim_start_matches('/'))
                })
                // Label filters all hold (dockerd's MatchKVList), unlike other keys' values.
                && f.get("label")
                    .iter()
                    .all(|v| berth_models::filters::label_matches(Some(rec.labels()), v))
                && f.any_or_none("status", |v| st.status.as_str() == v)
                && f.any_or_none("exited", |v| {
                    st.status == Status::Exited && v.parse::<i64>().ok() == Some(st.exit_code)
                })
                && f.any_or_none("ancestor", |v| {
                    ancestors.iter().any(|(name, iid)| {
                        name == v && (!iid.is_empty() && rec.image == *iid || rec.config.image == v)
                    })
                })
                && f.any_or_none("volume", |v| {
                    rec.mount_points
                        .iter()
                        .any(|m| m.name == v || m.destination == v)
                        || rec.host_config.binds.iter().flatten().any(|b| {
                            b.split(':').next() == Some(v) || b.split(':').nth(1) == Some(v)
                        })
                })
                && f.any_or_none("network", |v| {
                    crate::networks::networks_of(&rec)
                        .iter()
                        .any(|n| n == v || self.networks.id_of(n).is_ok_and(|i| i.starts_with(v)))
                })
                && f.any_or_none("health", |v| health() == v)
                && f.any_or_none("publish", |v| {
                    rec.host_config.port_bindings.contains_key(&port_key(v))
                })
                && f.any_or_none("expose", |v| {
                    rec.config
                        .exposed_ports
                        .as_ref()
                        .is_some_and(|e| e.contains_key(&port_key(v)))
                });
            if !ok {
                continue;
            }
            // A container removed while the list is built is left out, not the list failed.
            let mine = eps.get(&rec.id).map(Vec::as_slice).unwrap_or_default();
            let mut s = match self.summary_with(&rec, &st, mine) {
                Ok(s) => s,
                Err(e) if e.kind() == crate::error::Kind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if o.size {
                let rw = berth_image::snapshot::du(&self.dir_of(&rec.id).join("upper/"));
                let image_size = images.resolve(&rec.image).map(|i| i.size).unwrap_or(0);
                s.size_rw = Some(rw as i64);
                s.size_root_fs = Some((rw + image_size) as i64);
            }
            out.push(s);
            if o.limit.is_some_and(|l| l > 0 && out.len() >= l) {
                break;
            }
        }
        Ok(out)
    }
}

/// `80` → `80/tcp`.
fn port_key(v: &str) -> String {
    if v.contains('/') {
        v.to_owned()
    } else {
        format!("{v}/tcp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(status: Status, code: i64) -> State {
        State {
            status,
            pid: 0,
            exit_code: code,
            error: String::new(),
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:00:50Z".into(),
        }
    }

    #[test]
    fn status_column_and_state_as_dockerd_shows_them() {
        let now = parse_rfc3339("2026-01-01T00:01:00Z").expect("time");
        assert_eq!(
            status_text(&st(Status::Running, 0), None, now),
            "Up About a minute"
        );
        assert_eq!(
            status_text(&st(Status::Running, 0), Some("starting"), now),
            "Up About a minute (health: starting)"
        );
        assert_eq!(
            status_text(&st(Status::Running, 0), Some("healthy"), now),
            "Up About a minute (healthy)"
        );
        assert_eq!(
            status_text(&st(Status::Exited, 3), None, now),
            "Exited (3) 10 seconds ago"
        );
        assert_eq!(
            status_text(&st(Status::Restarting, 1), None, now),
            "Restarting (1) 10 seconds ago"
        );
        assert_eq!(status_text(&st(Status::Created, 0), None, now), "Created");
        let w = wire_state(&st(Status::Restarting, 1), None);
        assert!(w.running && w.restarting && !w.paused);
        let w = wire_state(&st(Status::Paused, 0), None);
        assert!(w.running && w.paused);
        let v = serde_json::to_value(wire_state(&st(Status::Exited, 2), None)).expect("json");
        assert_eq!(v["Status"], "exited");
        assert_eq!(v["ExitCode"], 2);
        assert!(v.get("Health").is_none());
    }
}
