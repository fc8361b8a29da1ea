//! OCI hooks: each runs with the container's state JSON on stdin, its own args and env, and an
//! optional timeout after which it is killed.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Run `hooks` in order; the first failure stops the list and is returned.
pub fn run(hooks: &[Hook], state: &serde_json::Value) -> Result<()> {
    let input = serde_json::to_vec(state).expect("state serializes");
    for h in hooks {
        run_one(h, &input)?;
    }
    Ok(())
}

/// Run every hook of `hooks` (poststart, poststop): a failure is a warning on stderr and the
/// remaining hooks still run (runtime-spec: the lifecycle continues as if it had succeeded).
pub fn run_all(hooks: &[Hook], state: &serde_json::Value, which: &str) {
    let input = serde_json::to_vec(state).expect("state serializes");
    for h in hooks {
        if let Err(e) = run_one(h, &input) {
            eprintln!("berth-runtime: warning: {which} hook: {e}");
        }
    }
}

fn run_one(h: &Hook, input: &[u8]) -> Result<()> {
    let path = h.path().display().to_string();
    let err = |msg: String| Error::Hook {
        path: path.clone(),
        msg,
    };
    let args = h.args().clone().unwrap_or_default();
    let mut cmd = Command::new(h.path());
    if let Some((arg0, rest)) = args.split_first() {
        cmd.arg0(arg0).args(rest);
    }
    cmd.env_clear();
    for kv in h.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| err(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(input);
    }
    let deadline = h
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait().map_err(|e| err(e.to_string()))? {
            Some(s) => break s,
            None if deadline.is_some_and(|d| Instant::now() >= d) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!(
                    "timed out after {}s",
                    h.timeout().unwrap_or(0)
                )));
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    if !status.success() {
        return Err(err(format!("failed: {status}")));
    }
    Ok(())
}
