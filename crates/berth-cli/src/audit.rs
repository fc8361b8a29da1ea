//! `berth audit`: the daemon's CIS-style checks as a table, JSON or SARIF; `berth audit rules`
//! (auditd rules for Berth's paths); `berth audit log` (the API audit log, `--verify`).

use std::io::IsTerminal;

use anyhow::{Result, bail};
use berth_client::query;
use berth_models::audit::{Check, Report};

use crate::{Global, connect};

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    cmd: Option<AuditCmd>,
    /// Output format: table, json or sarif
    #[arg(long, default_value = "table")]
    format: String,
    /// Exit with this code when a check fails
    #[arg(long, default_value_t = 0)]
    exit_code: i32,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCmd {
    /// Print auditd rules that watch Berth's binary, state, configuration and sockets
    Rules,
    /// Show the API audit log (every mutating request)
    Log {
        /// Only entries since this time (Unix seconds, RFC 3339, or a duration: 10m)
        #[arg(long)]
        since: Option<String>,
        /// Check the hash chain: exit 1 if any entry was edited, removed or reordered
        #[arg(long)]
        verify: bool,
        /// Output format: table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Entry {
    seq: u64,
    time: String,
    uid: u32,
    gid: u32,
    pid: i32,
    method: String,
    path: String,
    #[serde(default)]
    target: String,
    status: u16,
    #[serde(default)]
    error: String,
    /// A dashboard user's request: NAME@ADDRESS.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    user: String,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Verification {
    entries: u64,
    ok: bool,
    #[serde(default)]
    problem: Option<String>,
}

pub fn audit(g: &Global, a: AuditArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    match a.cmd {
        Some(AuditCmd::Rules) => {
            let mut out = Vec::new();
            rt.block_on(c.download("/audit/rules", &mut out))?;
            print!("{}", String::from_utf8_lossy(&out));
            Ok(0)
        }
        Some(AuditCmd::Log {
            since,
            verify,
            format,
        }) => {
            if verify {
                let v: Verification = rt.block_on(c.get("/audit/log/verify"))?;
                if v.ok {
                    println!("audit log: {} entries, the chain is intact", v.entries);
                    return Ok(0);
                }
                eprintln!(
                    "audit log: BROKEN after {} good entries: {}",
                    v.entries,
                    v.problem.unwrap_or_default()
                );
                return Ok(1);
            }
            let since = since
                .as_deref()
                .map(crate::logs::time_flag)
                .unwrap_or_default();
            let entries: Vec<Entry> = rt.block_on(c.get(&format!(
                "/audit/log{}",
                query(&[("since", since.as_str())])
            )))?;
            if format == "json" {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(0);
            }
            println!(
                "{:<6} {:<30} {:<16} {:<8} {:<7} {:<40} {:<20} STATUS",
                "SEQ", "TIME", "UID", "PID", "METHOD", "PATH", "TARGET"
            );
            for e in entries {
                let who = if e.user.is_empty() {
                    e.uid.to_string()
                } else {
                    e.user.clone()
                };
                println!(
                    "{:<6} {:<30} {:<16} {:<8} {:<7} {:<40} {:<20} {}",
                    e.seq,
                    e.time,
                    who,
                    e.pid,
                    e.method,
                    e.path,
                    e.target.chars().take(20).collect::<String>(),
                    e.status
                );
            }
            Ok(0)
        }
        None => {
            let r: Report = rt.block_on(c.get("/audit/checks"))?;
            match a.format.as_str() {
                "json" => println!("{}", serde_json::to_string_pretty(&r)?),
                "sarif" => println!("{}", serde_json::to_string_pretty(&sarif(&r))?),
                "table" => table(&r),
                f => bail!("invalid --format {f:?}: use table, json or sarif"),
            }
            let failed = r.checks.iter().any(|c| c.result == "fail");
            Ok(if failed { a.exit_code } else { 0 })
        }
    }
}

fn table(r: &Report) {
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let paint = |res: &str| -> String {
        if !color {
            return res.to_uppercase();
        }
        let code = match res {
            "pass" => "32",
            "fail" => "31",
            "warn" => "33",
            _ => "2",
        };
        format!("\x1b[{code}m{}\x1b[0m", res.to_uppercase())
    };
    println!(
        "{:<8} {:<5} {:<6} {:<70} EVIDENCE",
        "ID", "LEVEL", "RESULT", "TITLE"
    );
    for c in &r.checks {
        let pad = 6usize.saturating_sub(c.result.len());
        println!(
            "{:<8} {:<5} {}{} {:<70} {}",
            c.id,
            c.level,
            paint(&c.result),
            " ".repeat(pad),
            c.title.chars().take(70).collect::<String>(),
            c.evidence
        );
    }
    let count = |x: &str| r.checks.iter().filter(|c| c.result == x).count();
    println!(
        "\n{} checks: {} pass, {} fail, {} warn, {} info, {} skip",
        r.checks.len(),
        count("pass"),
        count("fail"),
        count("warn"),
        count("info"),
        count("skip")
    );
}

/// SARIF 2.1.0: a rule per check, a result per failed or warned check.
fn sarif(r: &Report) -> serde_json::Value {
    let rule = |c: &Check| {
        serde_json::json!({
            "id": c.id,
            "name": c.title,
            "shortDescription": {"text": c.title},
            "help": {"text": c.remediation},
            "properties": {"level": c.level},
        })
    };
    let results: Vec<serde_json::Value> = r
        .checks
        .iter()
        .filter(|c| c.result == "fail" || c.result == "warn")
        .map(|c| {
            serde_json::json!({
                "ruleId": c.id,
                "level": if c.result == "fail" { "error" } else { "warning" },
                "message": {"text": format!("{}: {}", c.title, c.evidence)},
            })
        })
        .collect();
    serde_json::json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "berth audit",
                "informationUri": "https://www.cisecurity.org/benchmark/docker",
                "rules": r.checks.iter().map(rule).collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}
