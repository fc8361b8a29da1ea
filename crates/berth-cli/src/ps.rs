//! `ps`: the container list with docker's columns, filters, `-a`, `-n`/`-l`, `-s`, `-q`,
//! `--format`.

use anyhow::Result;
use berth_client::query;
use berth_models::container::{Port, Summary};
use clap::Args;
use serde::Serialize;

use crate::output::{filters, labels_text, print_list, short_id};
use crate::units::{human_duration, now};
use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only display container IDs
    #[arg(short, long)]
    quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Show the latest created container
    #[arg(short, long)]
    latest: bool,
    /// Show n last created containers
    #[arg(short = 'n', long)]
    last: Option<usize>,
    /// Pretty-print containers using a Go template
    #[arg(long)]
    format: Option<String>,
    /// Filter output based on conditions provided (name=, label=, status=, network=, …)
    #[arg(short, long)]
    filter: Vec<String>,
    /// Display total file sizes
    #[arg(short, long)]
    size: bool,
}

/// One row of `ps` (the fields `--format` templates name).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    #[serde(rename = "ID")]
    id: String,
    image: String,
    command: String,
    created_at: String,
    running_for: String,
    status: String,
    state: String,
    ports: String,
    names: String,
    labels: String,
    mounts: String,
    networks: String,
    size: String,
}

fn row(s: &Summary, no_trunc: bool) -> Row {
    let mut cmd = s.command.clone();
    if !no_trunc && cmd.chars().count() > 20 {
        cmd = format!("{}…", cmd.chars().take(19).collect::<String>());
    }
    Row {
        id: short_id(&s.id, no_trunc),
        image: s.image.clone(),
        command: format!("\"{cmd}\""),
        created_at: crate::units::go_time(s.created),
        running_for: format!("{} ago", human_duration(now() - s.created)),
        status: s.status.clone(),
        state: s.state.clone(),
        ports: ports_column(&s.ports),
        names: s
            .names
            .iter()
            .map(|n| n.trim_start_matches('/'))
            .collect::<Vec<_>>()
            .join(","),
        labels: labels_text(&s.labels),
        mounts: String::new(),
        networks: s
            .network_settings
            .networks
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(","),
        size: match (s.size_rw, s.size_root_fs) {
            (Some(rw), Some(root)) => format!(
                "{} (virtual {})",
                crate::units::human_size(rw as f64),
                crate::units::human_size(root as f64)
            ),
            _ => String::new(),
        },
    }
}

pub fn ps(g: &Global, a: PsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut q: Vec<(&str, String)> = Vec::new();
    if a.all {
        q.push(("all", "1".into()));
    }
    if let Some(n) = a.last.or(a.latest.then_some(1)) {
        q.push(("limit", n.to_string()));
    }
    if a.size {
        q.push(("size", "1".into()));
    }
    let f = filters(&a.filter)?;
    if !f.is_empty() {
        q.push(("filters", f.to_json()));
    }
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let list: Vec<Summary> = rt.block_on(c.get(&format!("/containers/json{}", query(&pairs))))?;
    let rows: Vec<Row> = list.iter().map(|s| row(s, a.no_trunc)).collect();
    let mut cols = vec![
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("RunningFor", "CREATED"),
        ("Status", "STATUS"),
        ("Ports", "PORTS"),
        ("Names", "NAMES"),
    ];
    if a.size {
        cols.push(("Size", "SIZE"));
    }
    print_list(
        a.quiet,
        |r: &Row| r.id.as_str(),
        a.format.as_deref(),
        &cols,
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("CreatedAt", "CREATED AT"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("State", "STATE"),
            ("Ports", "PORTS"),
            ("Names", "NAMES"),
            ("Labels", "LABELS"),
            ("Mounts", "MOUNTS"),
            ("Networks", "NETWORKS"),
            ("Size", "SIZE"),
        ],
        &rows,
    )?;
    Ok(0)
}

/// docker's PORTS column: `127.0.0.1:8080->80/tcp, 81/tcp`.
pub(crate) fn ports_column(ports: &[Port]) -> String {
    let mut items: Vec<(u16, String)> = ports
        .iter()
        .map(|p| {
            let typ = if p.r#type.is_empty() {
                "tcp"
            } else {
                &p.r#type
            };
            let text = match p.public_port {
                Some(public) => format!(
                    "{}:{public}->{}/{typ}",
                    if p.ip.is_empty() { "0.0.0.0" } else { &p.ip },
                    p.private_port
                ),
                None => format!("{}/{typ}", p.private_port),
            };
            (p.private_port, text)
        })
        .collect();
    items.sort();
    items
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ports_column_is_dockers() {
        let p = |ip: &str, private, public| Port {
            ip: ip.into(),
            private_port: private,
            public_port: public,
            r#type: "tcp".into(),
        };
        assert_eq!(
            ports_column(&[p("", 81, None), p("127.0.0.1", 80, Some(8080))]),
            "127.0.0.1:8080->80/tcp, 81/tcp"
        );
    }
}
