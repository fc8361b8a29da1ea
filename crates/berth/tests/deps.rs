//! The crates' dependency direction: the allowed graph is written once, in ARCHITECTURE.md
//! (the block after `crate-graph:`), and `cargo metadata` must agree with it — a new edge
//! between the workspace's crates fails here until the document allows it. Needs no root.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// crate → the workspace crates it may depend on (normal and build dependencies).
fn allowed() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ARCHITECTURE.md"),
    )
    .expect("ARCHITECTURE.md");
    let block = doc
        .split_once("crate-graph:")
        .and_then(|(_, rest)| rest.split_once("```text\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(b, _)| b)
        .expect("ARCHITECTURE.md has a crate-graph block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (name, deps) = l.split_once("->").expect("`crate -> deps` lines");
            let deps = deps
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty() && *d != "(none)")
                .map(str::to_owned)
                .collect();
            (name.trim().to_owned(), deps)
        })
        .collect()
}

/// What Cargo.toml files say, from `cargo metadata`.
fn actual() -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    #[derive(serde::Deserialize)]
    struct Meta {
        packages: Vec<Package>,
    }
    #[derive(serde::Deserialize)]
    struct Package {
        name: String,
        dependencies: Vec<Dep>,
    }
    #[derive(serde::Deserialize)]
    struct Dep {
        name: String,
        kind: Option<String>,
    }
    let m: Meta = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let names: BTreeSet<String> = m.packages.iter().map(|p| p.name.clone()).collect();
    m.packages
        .into_iter()
        .map(|p| {
            let deps = p
                .dependencies
                .into_iter()
                .filter(|d| names.contains(&d.name) && d.kind.as_deref() != Some("dev"))
                .map(|d| d.name)
                .collect();
            (p.name, deps)
        })
        .collect()
}

#[test]
fn crates_depend_only_as_the_architecture_allows() {
    let (allowed, actual) = (allowed(), actual());
    let mut wrong = Vec::new();
    for (name, deps) in &actual {
        let Some(ok) = allowed.get(name) else {
            wrong.push(format!("{name} is not in ARCHITECTURE.md's crate graph"));
            continue;
        };
        for d in deps.difference(ok) {
            wrong.push(format!("{name} -> {d} is not allowed"));
        }
        for d in ok.difference(deps) {
            wrong.push(format!(
                "{name} -> {d} is allowed but unused: drop it from the graph"
            ));
        }
    }
    assert!(wrong.is_empty(), "the crate graph drifted: {wrong:#?}");
}

#[test]
fn the_graph_has_no_cycles_and_the_api_stays_thin() {
    let g = allowed();
    // berth-api speaks HTTP over the engine and the wire types only (and hands the BuildKit
    // connections to berth-buildkit, which speaks gRPC over the engine's builder).
    assert_eq!(
        g["berth-api"],
        ["berth-buildkit", "berth-engine", "berth-models"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        g["berth-buildkit"],
        ["berth-dockerfile", "berth-engine", "berth-models"]
            .map(String::from)
            .into()
    );
    // The client knows nothing of the engine.
    assert!(!g["berth-client"].contains("berth-engine"));
    // Depth-first: no crate reaches itself.
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        n: &str,
        path: &mut Vec<String>,
    ) -> Result<(), String> {
        if path.iter().any(|p| p == n) {
            return Err(format!("{} -> {n}", path.join(" -> ")));
        }
        path.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            visit(g, d, path)?;
        }
        path.pop();
        Ok(())
    }
    for n in g.keys() {
        visit(&g, n, &mut Vec::new()).expect("no cycle");
    }
}
