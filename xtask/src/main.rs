//! `cargo xtask <task>`: `bundle DIR` builds a busybox bundle; `demo` builds Berth, starts its
//! daemon and runs a container from an image through `berth run` and the docker CLI; `images` writes a busybox image archive (docker save format)
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
    build_release_of("berth")
}

/// `cargo build --release -p PACKAGE`: the path of its binary (named as the package).
fn build_release_of(package: &str) -> Result<PathBuf> {
    let ok = Command::new(env!("CARGO"))
        .args(["build", "--release", "-p", package])
        .current_dir(workspace())
        .status()?
        .success();
    if !ok {
        bail!("cargo build failed");
    }
    Ok(workspace().join("target/release").join(package))
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

/// The quick start: a daemon with its state under target/demo, in a network namespace of its own
/// (its bridge and firewall rules never touch the host's network), a busybox image loaded into it,
/// a container run through `berth run --rm` and, if the docker CLI is installed, through
/// `docker` pointed at Berth's socket; then the daemon stops.
fn demo(berth: &Path) -> Result<()> {
    use std::os::unix::process::CommandExt as _;
    let dir = workspace().join("target/demo");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let sock = dir.join("berth.sock");
    let host = format!("unix://{}", sock.display());
    let archive = dir.join("busybox.tar");
    std::fs::write(&archive, xtask::busybox_image(&dir.join("work"))?)?;
    let log = std::fs::File::create(dir.join("daemon.log"))?;
    println!("# berth daemon -H {host} --data-root target/demo/data (log: target/demo/daemon.log)");
    let mut cmd = Command::new(berth);
    cmd.args(["daemon", "-H", &host, "--cgroup-parent", "/berth-demo"])
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--config-file")
        .arg(dir.join("daemon.json"))
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: unshare is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::unshare(libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut daemon = cmd.spawn().context("start berth daemon")?;
    let result = demo_steps(berth, &host, &sock, &archive);
    // SAFETY: kill(2) on the child we spawned (and have not reaped).
    unsafe { libc::kill(daemon.id() as i32, libc::SIGTERM) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while daemon.try_wait()?.is_none() {
        if std::time::Instant::now() > deadline {
            let _ = daemon.kill();
            let _ = daemon.wait();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // The containers' parent cgroup, now empty (rmdir refuses one that is not).
    for c in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(c.path().join("berth-demo"));
    }
    let _ = std::fs::remove_dir("/sys/fs/cgroup/berth-demo");
    println!("# daemon stopped");
    result
}

fn demo_steps(berth: &Path, host: &str, sock: &Path, archive: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(sock).is_err() {
        if std::time::Instant::now() > deadline {
            bail!("the daemon did not come up; see target/demo/daemon.log");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let step = |shown: &str, cmd: &mut Command| -> Result<()> {
        println!("# {shown}");
        let st = cmd.status().with_context(|| shown.to_owned())?;
        if !st.success() {
            bail!("`{shown}` failed: {st}");
        }
        Ok(())
    };
    let b = || {
        let mut c = Command::new(berth);
        c.args(["-H", host]);
        c
    };
    step(
        "berth load -i busybox.tar",
        b().args(["load", "-i"]).arg(archive),
    )?;
    let script = "echo Hello from a Berth container: $(hostname), pid $$; grep -E 'CapEff|Seccomp:' /proc/self/status; echo pids.max: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)";
    step(
        "berth run --rm busybox sh -c '…'",
        b().args(["run", "--rm", "busybox", "sh", "-c", script]),
    )?;
    step("berth images", b().arg("images"))?;
    let docker = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("docker"))
        .find(|p| p.is_file());
    match docker {
        Some(docker) => {
            let d = || {
                let mut c = Command::new(&docker);
                c.env("DOCKER_HOST", host);
                c
            };
            step(
                &format!("DOCKER_HOST={host} docker run --rm busybox echo …"),
                d().args([
                    "run",
                    "--rm",
                    "busybox",
                    "echo",
                    "Hello from the docker CLI, served by Berth",
                ]),
            )?;
            step("docker version", d().arg("version"))?;
        }
        None => println!(
            "# (no docker CLI on PATH: with one, DOCKER_HOST={host} docker run --rm busybox echo hi)"
        ),
    }
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
        ["demo"] => demo(&build_release()?)?,
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
        ["bench", which @ ("images" | "build" | "scan"), rest @ ..] => {
            let berth = build_release()?;
            let out = workspace().join("target/images");
            if !out.join("debian.tar").is_file() || !out.join("debian-layer.tar.gz").is_file() {
                xtask::debian_image(&out.join("work"), &out)?;
                let _ = std::fs::remove_dir_all(out.join("work"));
            }
            run_bench(&format!("bench/{which}/run.sh"), &berth, Some(&out), rest)?;
        }
        [
            "bench",
            which @ ("run" | "net" | "compose" | "metrics"),
            rest @ ..,
        ] => {
            let berth = build_release()?;
            let out = workspace().join("target/images");
            std::fs::create_dir_all(&out)?;
            if !out.join("busybox.tar").is_file() {
                std::fs::write(out.join("busybox.tar"), xtask::busybox_image(&out)?)?;
            }
            run_bench(&format!("bench/{which}/run.sh"), &berth, Some(&out), rest)?;
        }
        ["bench", "api", rest @ ..] => {
            let berth = build_release()?;
            let load = build_release_of("berth-load")?;
            let out = workspace().join("target/images");
            std::fs::create_dir_all(&out)?;
            if !out.join("busybox.tar").is_file() {
                std::fs::write(out.join("busybox.tar"), xtask::busybox_image(&out)?)?;
            }
            let ok = Command::new("bash")
                .arg(workspace().join("bench/api/run.sh"))
                .arg(&berth)
                .arg(&out)
                .args(rest)
                .env("BERTH_LOAD", load)
                .status()?
                .success();
            if !ok {
                bail!("benchmark failed");
            }
        }
        ["bench", "runtime", rest @ ..] => {
            let berth = build_release()?;
            run_bench("bench/runtime/run.sh", &berth, None, rest)?;
        }
        _ => bail!(
            "usage: cargo xtask bundle DIR | demo | images [busybox] [debian] | bench runtime|images|run|net|build|compose|scan|metrics|tui [RUNS] | bench api [SECONDS] [CONTAINERS] [CLIENTS] [ROUNDS]"
        ),
    }
    Ok(())
}
