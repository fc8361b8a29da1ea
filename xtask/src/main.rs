//! `cargo xtask <task>`: `bundle DIR` builds a busybox bundle; `demo` builds Berth and runs a
//! container from such a bundle; `images` writes a busybox image archive (docker save format)
//! to target/images; `bench runtime` runs the runtime benchmark.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_owned()
}

/// Run a benchmark script with the release binary (and the images directory, if it takes one).
fn run_bench(script: &str, berth: &Path, images: Option<&Path>, rest: &[&str]) -> Result<()> {
    let ok = Command::new("bash")
        .arg(workspace().join(script))
        .arg(berth)
        .args(images)
        .args(rest)
        .status()?
        .success();
    if !ok {
        bail!("benchmark failed");
    }
    Ok(())
}

fn build_release() -> Result<PathBuf> {
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", "berth"])
        .current_dir(workspace())
        .status()?
        .success();
    if !ok {
        bail!("cargo build failed");
    }
    Ok(workspace().join("target/release/berth"))
}

/// config.json from `berth runtime spec`, with the terminal off and `args`.
fn spec_with(berth: &Path, dir: &Path, args: &[&str]) -> Result<()> {
    let _ = std::fs::remove_file(dir.join("config.json"));
    let ok = Command::new(berth)
        .args(["runtime", "spec", "--bundle"])
        .arg(dir)
        .status()?
        .success();
    if !ok {
        bail!("berth runtime spec failed");
    }
    let path = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    v["process"]["terminal"] = false.into();
    v["process"]["args"] = args.iter().map(|a| serde_json::Value::from(*a)).collect();
    std::fs::write(&path, serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bundle", dir] => {
            let dir = PathBuf::from(dir);
            xtask::busybox_rootfs(&dir.join("rootfs"))?;
            let berth = build_release()?;
            spec_with(&berth, &dir, &["sh"])?;
            println!("bundle ready in {}", dir.display());
        }
        ["demo"] => {
            let berth = build_release()?;
            let dir = std::env::temp_dir().join(format!("berth-demo-{}", std::process::id()));
            xtask::busybox_rootfs(&dir.join("rootfs"))?;
            spec_with(
                &berth,
                &dir,
                &[
                    "sh",
                    "-c",
                    "echo Hello from a Berth container: $(hostname), pid $$; grep -E 'CapEff|Seccomp:' /proc/self/status; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null",
                ],
            )?;
            let status = Command::new(&berth)
                .args(["runtime", "--root"])
                .arg(dir.join("state"))
                .args(["run", "--bundle"])
                .arg(&dir)
                .arg(format!("demo-{}", std::process::id()))
                .status()
                .context("run berth")?;
            let _ = std::fs::remove_dir_all(&dir);
            if !status.success() {
                bail!("berth runtime run failed: {status}");
            }
        }
        ["images", which @ ..] => {
            let out = workspace().join("target/images");
            std::fs::create_dir_all(&out)?;
            if which.is_empty() || which.contains(&"debian") {
                let (archive, _) = xtask::debian_image(&out.join("work"), &out)?;
                let _ = std::fs::remove_dir_all(out.join("work"));
                println!(
                    "{} (debian:bookworm, debian:12, debian:latest)",
                    archive.display()
                );
                if which.contains(&"debian") && !which.contains(&"busybox") {
                    return Ok(());
                }
            }
            let data = xtask::busybox_image(&out)?;
            let path = out.join("busybox.tar");
            std::fs::write(&path, data)?;
            println!(
                "{} (busybox:latest, alpine:latest, alpine:3.10; load with `docker load -i`)",
                path.display()
            );
        }
        ["bench", "images", rest @ ..] => {
            let berth = build_release()?;
            let out = workspace().join("target/images");
            if !out.join("debian.tar").is_file() || !out.join("debian-layer.tar.gz").is_file() {
                xtask::debian_image(&out.join("work"), &out)?;
                let _ = std::fs::remove_dir_all(out.join("work"));
            }
            run_bench("bench/images/run.sh", &berth, Some(&out), rest)?;
        }
        ["bench", which @ ("run" | "net"), rest @ ..] => {
            let berth = build_release()?;
            let out = workspace().join("target/images");
            std::fs::create_dir_all(&out)?;
            if !out.join("busybox.tar").is_file() {
                std::fs::write(out.join("busybox.tar"), xtask::busybox_image(&out)?)?;
            }
            run_bench(&format!("bench/{which}/run.sh"), &berth, Some(&out), rest)?;
        }
        ["bench", "runtime", rest @ ..] => {
            let berth = build_release()?;
            run_bench("bench/runtime/run.sh", &berth, None, rest)?;
        }
        _ => bail!(
            "usage: cargo xtask bundle DIR | demo | images [busybox] [debian] | bench runtime|images|run|net [RUNS]"
        ),
    }
    Ok(())
}
