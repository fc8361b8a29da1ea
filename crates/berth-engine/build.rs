//! Builds `berth-init` (init/berth-init.c), the static process 1 for `--init`, which the
//! engine embeds and mounts into containers.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("berth-init");
    let src = "init/berth-init.c";
    println!("cargo:rerun-if-changed={src}");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-static", "-Os", "-s", "-Wall", "-o"])
        .arg(&out)
        .arg(src)
        .status()
        .unwrap_or_else(|e| {
            panic!("run {cc} to build berth-init (apt-get install gcc libc6-dev): {e}")
        });
    assert!(status.success(), "building berth-init with {cc} failed");
}
