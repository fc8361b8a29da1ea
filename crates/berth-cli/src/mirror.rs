//! `berth mirror test [CANDIDATES…]` and `berth mirror use NAME…|--fastest [CANDIDATES…]`
//! (docker_mirror's job, without the restart): the daemon measures the candidates and, for
//! `use`, writes `registry-mirrors` to its config file and applies it at once.

use anyhow::{Result, bail};
use berth_image::registry::probe::ProbeResult;
use berth_models::system::{MirrorTestRequest, MirrorUseRequest, ReloadReport};
use clap::{Args, Subcommand};

use crate::{Global, connect};

#[derive(Debug, Subcommand)]
pub enum MirrorCmd {
    /// Measure registry mirrors: time to first byte, manifest latency, layer throughput
    Test(TestArgs),
    /// Make mirrors the daemon's registry-mirrors (written and applied, no restart)
    Use {
        /// Measure the candidates and use the fastest that works
        #[arg(long)]
        fastest: bool,
        #[command(flatten)]
        test: TestArgs,
    },
}

#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// The probe image (default library/busybox:latest)
    #[arg(long, default_value = "")]
    image: String,
    /// Rounds per mirror
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Mirrors measured at once
    #[arg(long, default_value_t = 4)]
    parallel: u32,
    /// Seconds a request may take before the mirror counts as slow
    #[arg(long, default_value_t = 20)]
    timeout: u64,
    /// Output: table or json
    #[arg(long, default_value = "table")]
    format: String,
    /// Mirrors (URLs or host[:port]); none: the daemon's and the built-in list
    candidates: Vec<String>,
}

fn measure(g: &Global, a: &TestArgs) -> Result<Vec<ProbeResult>> {
    let (rt, c) = connect(g)?;
    let req = MirrorTestRequest {
        candidates: a.candidates.clone(),
        image: a.image.clone(),
        rounds: a.rounds,
        parallel: a.parallel,
        timeout: a.timeout,
    };
    Ok(rt.block_on(c.post("/mirrors/test", &req))?)
}

fn opt(v: Option<f64>) -> String {
    v.map_or("-".into(), |x| format!("{x:.1}"))
}

fn print(results: &[ProbeResult], format: &str) -> Result<()> {
    if format == "json" {
        let v: Vec<serde_json::Value> = results
            .iter()
            .map(|r| {
                serde_json::json!({
                    "mirror": r.mirror, "status": r.status, "ttfb_ms": r.ttfb_ms,
                    "manifest_ms": r.manifest_ms, "mbps": r.mbps,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!(
        "{:<5} {:<40} {:>9} {:>12} {:>9}  STATUS",
        "RANK", "MIRROR", "TTFB MS", "MANIFEST MS", "MBIT/S"
    );
    for (i, r) in results.iter().enumerate() {
        let rank = if r.status == "ok" {
            (i + 1).to_string()
        } else {
            "-".into()
        };
        println!(
            "{:<5} {:<40} {:>9} {:>12} {:>9}  {}",
            rank,
            r.mirror,
            opt(r.ttfb_ms),
            opt(r.manifest_ms),
            opt(r.mbps),
            r.status
        );
    }
    Ok(())
}

pub fn mirror(g: &Global, cmd: MirrorCmd) -> Result<i32> {
    match cmd {
        MirrorCmd::Test(a) => {
            let results = measure(g, &a)?;
            print(&results, &a.format)?;
            Ok(if results.iter().any(|r| r.status == "ok") {
                0
            } else {
                1
            })
        }
        MirrorCmd::Use { fastest, test } => {
            let chosen = if fastest {
                let results = measure(g, &test)?;
                print(&results, &test.format)?;
                match results.iter().find(|r| r.status == "ok") {
                    Some(r) => vec![r.mirror.clone()],
                    None => bail!("no candidate works: nothing changed"),
                }
            } else {
                if test.candidates.is_empty() {
                    bail!("name the mirrors to use, or --fastest");
                }
                test.candidates.clone()
            };
            let (rt, c) = connect(g)?;
            let report: ReloadReport = rt.block_on(c.post(
                "/mirrors/use",
                &MirrorUseRequest {
                    mirrors: chosen.clone(),
                },
            ))?;
            eprintln!("registry-mirrors: {}", chosen.join(", "));
            if !report.not_live.is_empty() {
                eprintln!(
                    "changed but needing a restart: {}",
                    report.not_live.join(", ")
                );
            }
            Ok(0)
        }
    }
}
