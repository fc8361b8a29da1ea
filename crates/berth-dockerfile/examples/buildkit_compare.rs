//! Compares the parser and the word expander with BuildKit's own test files (fetched, not
//! committed): `cargo run -p berth-dockerfile --example buildkit_compare -- BUILDKIT_CHECKOUT`.
//! Prints each disagreement and the counts; exits 1 when any case disagrees.

use berth_dockerfile::{parser, shell};
use std::path::Path;

fn main() {
    let root = std::env::args()
        .nth(1)
        .expect("usage: buildkit_compare BUILDKIT_CHECKOUT");
    let df = Path::new(&root).join("frontend/dockerfile");
    let (mut ok, mut all) = (0, 0);
    let mut dirs: Vec<_> = std::fs::read_dir(df.join("parser/testfiles"))
        .expect("testfiles")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for d in &dirs {
        all += 1;
        let text = std::fs::read_to_string(d.join("Dockerfile")).unwrap_or_default();
        let want = std::fs::read_to_string(d.join("result")).unwrap_or_default();
        match parser::parse(&text) {
            Ok(p) if p.dump() == want => ok += 1,
            Ok(p) => println!(
                "DIFF {}\n--- want\n{want}--- got\n{}",
                d.display(),
                p.dump()
            ),
            Err(e) => println!("ERR  {}: {e}", d.display()),
        }
    }
    println!("parser testfiles: {ok}/{all} agree");
    let (mut nok, mut nall) = (0, 0);
    for d in std::fs::read_dir(df.join("parser/testfiles-negative"))
        .expect("negative")
        .flatten()
    {
        nall += 1;
        let text = std::fs::read_to_string(d.path().join("Dockerfile")).unwrap_or_default();
        match parser::parse(&text) {
            Err(_) => nok += 1,
            Ok(_) => println!("ACCEPTED {}", d.path().display()),
        }
    }
    println!("parser negative testfiles: {nok}/{nall} refused");
    let env: Vec<(String, String)> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lex = shell::Lex::new('\\');
    let (mut eok, mut eall) = (0, 0);
    for line in std::fs::read_to_string(df.join("shell/envVarTest"))
        .unwrap_or_default()
        .lines()
    {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split('|').collect();
        if f.len() != 3 || f[0].trim() == "W" {
            continue;
        }
        eall += 1;
        let (src, want) = (f[1].trim(), f[2].trim());
        let got = lex.word(src, &env);
        let good = match &got {
            Err(_) => want == "error",
            Ok(w) => w == want,
        };
        if good {
            eok += 1;
        } else {
            println!("ENV  {src:?}: want {want:?}, got {got:?}");
        }
    }
    println!("shell envVarTest: {eok}/{eall} agree");
    let (mut wok, mut wall) = (0, 0);
    // BuildKit's test reads this file in its normal mode only (its second mode reuses the
    // exhausted file handle), so the normal mode is what the expected words describe.
    {
        let raw = false;
        let lex = shell::Lex::new('\\');
        let mut env: Vec<(String, String)> = Vec::new();
        for line in std::fs::read_to_string(df.join("shell/wordsTest"))
            .unwrap_or_default()
            .lines()
        {
            if line.starts_with('#') {
                continue;
            }
            if let Some(e) = line.strip_prefix("ENV ") {
                let (k, v) = e.trim_start_matches(' ').split_once('=').unwrap_or((e, ""));
                env.push((k.into(), v.into()));
                continue;
            }
            let Some((src, want)) = line.split_once('|') else {
                continue;
            };
            wall += 1;
            let want: Vec<&str> = want.trim_start_matches(' ').split(',').collect();
            let got = lex
                .words(src.trim(), &env)
                .unwrap_or_else(|_| vec!["error".into()]);
            if got == want {
                wok += 1;
            } else {
                println!("WORDS {src:?} (raw {raw}): want {want:?}, got {got:?}");
            }
        }
    }
    println!("shell wordsTest: {wok}/{wall} agree");
    if ok != all || nok != nall || eok != eall || wok != wall {
        std::process::exit(1);
    }
}
