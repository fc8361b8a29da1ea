//! Real clients against Berth, class by class: what docker-py's own integration suite and a
//! user of the docker CLI found (swarm and plugin probes, exec framing, kill, detach keys,
//! attach without a stream, archives on mounts, image loads, changes, anonymous volumes).
//! Needs root (a daemon of the test's own), python3 with the `docker` package, the docker CLI.

#[path = "../common/mod.rs"]
mod common;

mod sdk;
