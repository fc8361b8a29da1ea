//! `logs` and `events`.

use std::io::Write;

use anyhow::Result;
use berth_client::{Method, query};
use berth_models::events::Message;
use clap::Args;

use crate::output::filters;
use crate::units::now;
use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    follow: bool,
    /// Show timestamps
    #[arg(short, long)]
    timestamps: bool,
    /// Number of lines to show from the end of the logs ("all")
    #[arg(short = 'n', long, default_value = "all")]
    tail: String,
    /// Show logs since timestamp (Unix seconds, RFC 3339) or relative (42m)
    #[arg(long)]
    since: Option<String>,
    /// Show logs before a timestamp (Unix seconds, RFC 3339) or relative (42m)
    #[arg(long)]
    until: Option<String>,
    container: String,
}

pub fn logs(g: &Global, a: LogsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let since = a.since.as_deref().map(time_flag);
    let until = a.until.as_deref().map(time_flag);
    let mut q = vec![("stdout", "1"), ("stderr", "1"), ("tail", a.tail.as_str())];
    if let Some(s) = &since {
        q.push(("since", s));
    }
    if let Some(u) = &until {
        q.push(("until", u));
    }
    if a.follow {
        q.push(("follow", "1"));
    }
    if a.timestamps {
        q.push(("timestamps", "1"));
    }
    crate::run::start::copy_output(
        &rt,
        &c,
        &format!("/containers/{}/logs{}", a.container, query(&q)),
    )?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show all events created since timestamp (Unix seconds, RFC 3339, or a duration: 10m)
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
}

/// A time flag as the API wants it: durations (`10m`, `2h`, `30s`) are relative to now.
pub fn time_flag(v: &str) -> String {
    let (n, unit) = v.split_at(v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len()));
    let secs = match (n.parse::<i64>(), unit) {
        (Ok(n), "s") => Some(n),
        (Ok(n), "m") => Some(n * 60),
        (Ok(n), "h") => Some(n * 3600),
        _ => None,
    };
    secs.map_or_else(|| v.to_owned(), |s| (now() - s).to_string())
}

pub fn events(g: &Global, a: EventsArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut q: Vec<(&str, String)> = vec![("filters", filters(&a.filter)?.to_json())];
    if let Some(s) = &a.since {
        q.push(("since", time_flag(s)));
    }
    if let Some(u) = &a.until {
        q.push(("until", time_flag(u)));
    }
    let qs = query(&q.iter().map(|(k, v)| (*k, v.as_str())).collect::<Vec<_>>());
    let tmpl = match a.format.as_deref() {
        Some("json") => Some(crate::template::Template::parse("{{json .}}")?),
        Some(f) => Some(crate::template::Template::parse(f)?),
        None => None,
    };
    rt.block_on(c.lines(
        Method::GET,
        &format!("/events{qs}"),
        &[],
        berth_client::empty(),
        |ev: Message| {
            let line = match &tmpl {
                Some(t) => serde_json::to_value(&ev)
                    .ok()
                    .and_then(|v| t.render(&v).ok())
                    .unwrap_or_default(),
                None => {
                    let nanos = ev.time_nano.max(0) as u64;
                    let when = berth_units::rfc3339_nano(
                        (nanos / 1_000_000_000) as i64,
                        (nanos % 1_000_000_000) as u32,
                    );
                    let attrs: Vec<String> = ev
                        .actor
                        .attributes
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    format!(
                        "{when} {} {} {} ({})",
                        ev.r#type,
                        ev.action,
                        ev.actor.id,
                        attrs.join(", ")
                    )
                }
            };
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{line}");
            let _ = o.flush();
            Ok(())
        },
    ))?;
    Ok(0)
}
