//! Builds from Dockerfiles through the real docker CLI (its classic-builder path, as CLI 28
//! takes without buildx), Berth's CLI, docker-py and Compose v2: multi-stage builds with
//! heredocs, cache mounts, secrets, `COPY --from`, args, `.dockerignore` and `--target`; the
//! cache (what a change rebuilds, `kill -9` in the middle, prune); bad input; reproducible
//! output; the hardened defaults of `RUN`. Needs root (a daemon of the test's own).

mod common;

use std::path::{Path, PathBuf};

use common::{Env, Run, build_context as context, nothing_left_of_builds as nothing_left};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ok(r: Run, what: &str) -> String {
    assert_eq!(r.code, 0, "{what}: {}{}", r.out, r.err);
    r.out
}

const MULTI: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM $BASE AS build
ARG GREETING=hi
WORKDIR /app
COPY src/ ./src/
RUN echo "$GREETING" > out.txt && cat src/a.txt >> out.txt
RUN --mount=type=cache,target=/cache echo run >> /cache/runs && wc -l < /cache/runs > /app/runs
RUN <<EOF
set -e
echo "from a heredoc" >> out.txt
test ! -e src/secret.env
EOF

FROM busybox AS unused
RUN echo "the unused stage ran" && exit 1

FROM busybox AS final
LABEL org.example.kind=test
COPY --from=build /app/out.txt /app/runs /out/
COPY <<EOT /out/note.txt
built with $GREETING
EOT
ENV MODE=prod
EXPOSE 8080
CMD ["cat", "/out/out.txt"]

FROM final AS debug
RUN echo debug > /out/debug
"#;

fn multi_context(env: &Env, name: &str) -> PathBuf {
    context(
        env,
        name,
        &[
            ("Dockerfile", MULTI),
            ("src/a.txt", "hello from a\n"),
            ("src/secret.env", "TOKEN=nope\n"),
            (".dockerignore", "**/*.env\n*.log\n"),
            ("build.log", "ignored\n"),
        ],
    )
}

#[test]
fn docker_build_multi_stage_and_the_cache() {
    let env = Env::start("berth-build-", "{}");
    let ctx = multi_context(&env, "ctx");
    let r = env.docker(&[
        "build",
        "-t",
        "app:1",
        "--target",
        "final",
        "--build-arg",
        "GREETING=yo",
        s(&ctx),
    ]);
    let out = ok(r, "docker build");
    assert!(
        !out.contains("the unused stage ran"),
        "the unused stage was built: {out}"
    );
    assert!(
        !out.contains("debug"),
        "a stage after the target was built: {out}"
    );
    assert!(out.contains("Successfully tagged app:1"), "{out}");
    let run = env.docker(&["run", "--rm", "app:1"]);
    assert_eq!(ok(run, "run").trim(), "yo\nhello from a\nfrom a heredoc");
    let note = ok(
        env.docker(&["run", "--rm", "app:1", "cat", "/out/note.txt", "/out/runs"]),
        "note",
    );
    assert_eq!(
        note, "built with \n1\n",
        "heredoc expansion (GREETING is not in this stage) and the cache mount"
    );
    let hist = ok(env.docker(&["history", "--no-trunc", "app:1"]), "history");
    for step in [
        "COPY --from=build /app/out.txt /app/runs /out/",
        "COPY <<EOT /out/note.txt",
        "CMD [\"cat\", \"/out/out.txt\"]",
        "EXPOSE 8080",
    ] {
        assert!(hist.contains(step), "history lacks {step}: {hist}");
    }
    let insp = ok(
        env.docker(&[
            "inspect",
            "-f",
            "{{json .Config.Labels}} {{.Config.Env}} {{json .Config.ExposedPorts}}",
            "app:1",
        ]),
        "inspect",
    );
    assert!(
        insp.contains("\"org.example.kind\":\"test\"")
            && insp.contains("MODE=prod")
            && insp.contains("8080/tcp"),
        "{insp}"
    );
    // The intermediate images are not listed, not dangling; `-a` shows them.
    let images = ok(
        env.docker(&["images", "-q", "--filter", "dangling=true"]),
        "images",
    );
    assert!(images.trim().is_empty(), "dangling after a build: {images}");
    assert!(
        ok(env.docker(&["images", "-a", "-q"]), "images -a")
            .lines()
            .count()
            > 3
    );

    // Unchanged context: everything from the cache, the same image.
    let id1 = ok(env.docker(&["inspect", "-f", "{{.Id}}", "app:1"]), "id");
    let again = ok(
        env.docker(&[
            "build",
            "-t",
            "app:1",
            "--target",
            "final",
            "--build-arg",
            "GREETING=yo",
            s(&ctx),
        ]),
        "rebuild",
    );
    assert!(
        !again.contains("Running in"),
        "an unchanged context ran a step: {again}"
    );
    assert_eq!(
        ok(env.docker(&["inspect", "-f", "{{.Id}}", "app:1"]), "id"),
        id1
    );
    // A changed source: only the steps from its COPY on run again.
    std::fs::write(ctx.join("src/a.txt"), "changed\n").expect("write");
    std::fs::write(ctx.join("build.log"), "ignored files do not count\n").expect("write");
    let changed = ok(
        env.docker(&[
            "build",
            "-t",
            "app:1",
            "--target",
            "final",
            "--build-arg",
            "GREETING=yo",
            s(&ctx),
        ]),
        "changed",
    );
    let steps: Vec<&str> = changed.split("Step ").skip(1).collect();
    let cached: Vec<bool> = steps.iter().map(|s| s.contains("Using cache")).collect();
    let copy = steps
        .iter()
        .position(|s| s.starts_with(|c: char| c.is_ascii_digit()) && s.contains(": COPY src/"))
        .expect("COPY step");
    assert!(
        !cached[copy],
        "the COPY of the changed file came from the cache: {changed}"
    );
    assert!(
        steps[copy + 1].contains("Running in"),
        "the RUN after it did not run again: {changed}"
    );
    assert_eq!(
        ok(env.docker(&["run", "--rm", "app:1"]), "run")
            .lines()
            .nth(1),
        Some("changed")
    );
    // Another value of a build arg only RUN steps use does not invalidate the COPY.
    let other = ok(
        env.docker(&[
            "build",
            "--target",
            "final",
            "--build-arg",
            "GREETING=other",
            s(&ctx),
        ]),
        "arg",
    );
    let steps: Vec<&str> = other.split("Step ").skip(1).collect();
    assert!(
        steps
            .iter()
            .find(|s| s.contains(": COPY src/"))
            .is_some_and(|s| s.contains("Using cache")),
        "{other}"
    );
    nothing_left(&env);
}

#[test]
fn berth_build_secrets_never_reach_a_layer() {
    let env = Env::start("berth-build-secret-", "{}");
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=secret,id=tok test \"$(cut -c1-6 /run/secrets/tok)\" = s3cr3t && echo seen > /proof\nRUN --mount=type=secret,id=tok,env=TOK test \"${TOK#s3cr3t}\" = -value\nRUN --mount=type=secret,id=missing,required=true true\n",
        )],
    );
    std::fs::write(env.dir.path().join("tok.txt"), "s3cr3t-value").expect("secret");
    let secret = format!("id=tok,src={}", env.dir.path().join("tok.txt").display());
    let r = env.berth(&["build", "-t", "sec", "--secret", &secret, s(&ctx)]);
    assert_ne!(
        r.code, 0,
        "a required secret that was not given must fail: {}",
        r.out
    );
    assert!(r.err.contains("secret missing not found"), "{}", r.err);
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN --mount=type=secret,id=tok test \"$(cut -c1-6 /run/secrets/tok)\" = s3cr3t && echo seen > /proof\nRUN --mount=type=secret,id=tok,env=TOK test \"${TOK#s3cr3t}\" = -value\n").expect("df");
    ok(
        env.berth(&["build", "-q", "-t", "sec", "--secret", &secret, s(&ctx)]),
        "build with a secret",
    );
    assert_eq!(env.ok(&["run", "--rm", "sec", "cat", "/proof"]), "seen\n");
    let ls = env.berth(&["run", "--rm", "sec", "ls", "/run/secrets"]);
    assert_ne!(
        ls.code, 0,
        "the secret's mount point is in the image: {}",
        ls.out
    );
    let tar = env.dir.path().join("sec.tar");
    env.ok(&["save", "-o", s(&tar), "sec"]);
    let bytes = std::fs::read(&tar).expect("saved");
    assert!(
        !bytes.windows(12).any(|w| w == b"s3cr3t-value"),
        "the secret is in the saved image"
    );
    let hist = env.ok(&["history", "--no-trunc", "sec"]);
    assert!(!hist.contains("s3cr3t-value"), "{hist}");
    nothing_left(&env);
}

#[test]
fn bad_input_is_named_and_leaves_nothing() {
    let env = Env::start("berth-build-bad-", "{}");
    let cases: &[(&str, &str, &[&str], &str)] = &[
        ("syntax", "FROM busybox\nENV ONLYKEY\n", &[], "Dockerfile:2"),
        (
            "unknown",
            "FROM busybox\nRUN true\nFROB x\n",
            &[],
            "unknown instruction: FROB",
        ),
        (
            "missing",
            "FROM busybox\nCOPY nosuch.txt /x\n",
            &[],
            "nosuch.txt",
        ),
        (
            "target",
            "FROM busybox AS a\nRUN true\n",
            &["--target", "nope"],
            "failed to reach build target nope",
        ),
        (
            "heredoc",
            "FROM busybox\nRUN <<EOF\necho never ends\n",
            &[],
            "unterminated heredoc",
        ),
        ("noFrom", "RUN true\n", &[], "no build stage"),
    ];
    for (name, df, extra, want) in cases {
        let ctx = context(&env, name, &[("Dockerfile", df)]);
        let mut args = vec!["build"];
        args.extend_from_slice(extra);
        args.push(s(&ctx));
        for r in [env.berth(&args), env.docker(&args)] {
            assert_ne!(r.code, 0, "{name}: {}", r.out);
            assert!(r.err.contains(want), "{name}: {want:?} not in {}", r.err);
        }
    }
    // A failing RUN: its exit code, its last lines, the client exits with the code.
    let ctx = context(
        &env,
        "fails",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo step output one && echo last words && exit 7\n",
        )],
    );
    let r = env.docker(&["build", s(&ctx)]);
    assert_eq!(r.code, 7, "{}{}", r.out, r.err);
    assert!(
        r.err.contains("returned a non-zero code: 7") && r.err.contains("last words"),
        "{}",
        r.err
    );
    let r = env.berth(&["build", s(&ctx)]);
    assert_eq!(r.code, 7, "{}{}", r.out, r.err);
    assert!(r.out.contains("step output one"), "{}", r.out);
    // A build arg no ARG declares: a warning, the build goes on.
    let ctx = context(
        &env,
        "warn",
        &[("Dockerfile", "FROM busybox\nARG USED\nRUN echo $USED\n")],
    );
    let r = env.docker(&[
        "build",
        "--build-arg",
        "USED=1",
        "--build-arg",
        "NEVER=2",
        s(&ctx),
    ]);
    let out = ok(r, "unused arg");
    assert!(
        out.contains("[Warning] One or more build-args [NEVER] were not consumed"),
        "{out}"
    );
    nothing_left(&env);
}

#[test]
fn source_date_epoch_gives_the_same_image_twice() {
    let env = Env::start("berth-build-repro-", "{}");
    let ctx = context(
        &env,
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY . /src/\nRUN echo built > /src/now && touch /src/touched\nCMD [\"ls\", \"/src\"]\n",
            ),
            ("a", "1\n"),
            ("dir/b", "2\n"),
        ],
    );
    let build = || {
        let r = env.docker(&[
            "build",
            "-q",
            "--no-cache",
            "--build-arg",
            "SOURCE_DATE_EPOCH=1700000000",
            s(&ctx),
        ]);
        ok(r, "build").trim().to_owned()
    };
    let a = build();
    // Other mtimes, the same content.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    std::fs::write(ctx.join("a"), "1\n").expect("touch");
    let b = build();
    assert!(
        a.starts_with("sha256:") && a == b,
        "two builds differ: {a} {b}"
    );
    let created = ok(
        env.docker(&["inspect", "-f", "{{.Created}}", &a]),
        "inspect",
    );
    assert!(created.starts_with("2023-11-14T22:13:20"), "{created}");
    nothing_left(&env);
}

#[test]
fn run_steps_get_the_hardened_defaults() {
    let env = Env::start("berth-build-sec-", "{}");
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN grep -E '^(Seccomp|NoNewPrivs|CapBnd):' /proc/self/status > /status && cat /proc/self/status | grep CapEff\n",
        )],
    );
    ok(env.berth(&["build", "-t", "sec", s(&ctx)]), "build");
    let st = env.ok(&["run", "--rm", "sec", "cat", "/status"]);
    assert!(
        st.contains("Seccomp:\t2"),
        "RUN without the seccomp filter: {st}"
    );
    let bnd = st
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .expect("CapBnd");
    let caps = u64::from_str_radix(bnd.split_whitespace().nth(1).expect("value"), 16).expect("hex");
    assert_eq!(caps & (1 << 21), 0, "CAP_SYS_ADMIN in a RUN step: {st}");
    // A context's symlink resolves inside the context (here to a /etc the context lacks),
    // never to the daemon's host.
    let df = "FROM busybox\nCOPY link/passwd /x\n";
    let ctx = context(&env, "escape", &[("Dockerfile", df)]);
    std::os::unix::fs::symlink("/etc", ctx.join("link")).expect("symlink");
    let r = env.berth(&["build", s(&ctx)]);
    assert_ne!(r.code, 0, "{}", r.out);
    assert!(
        r.err.contains("file not found in build context"),
        "{}",
        r.err
    );
    let ctx = context(
        &env,
        "inside",
        &[("Dockerfile", df), ("etc/passwd", "in the context\n")],
    );
    std::os::unix::fs::symlink("/etc", ctx.join("link")).expect("symlink");
    env.ok(&["build", "-t", "inside", s(&ctx)]);
    assert_eq!(
        env.ok(&["run", "--rm", "inside", "cat", "/x"]),
        "in the context\n"
    );
    nothing_left(&env);
}

#[test]
fn kill9_mid_build_never_leaves_a_half_cache_entry() {
    let mut env = Env::start("berth-build-kill-", "{}");
    let df = "FROM busybox\nRUN echo one > /one\nRUN sleep 0.3 && echo two > /two\nCOPY f /f\nRUN sleep 0.3 && cat /one /two /f > /all\nCMD [\"cat\", \"/all\"]\n";
    let ctx = context(&env, "ctx", &[("Dockerfile", df), ("f", "three\n")]);
    for delay_ms in [150u64, 450, 800] {
        let host = env.daemon.host();
        let ctxs = ctx.clone();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", &host)
            .args(["build", "--no-cache", "-t", "k", s(&ctxs)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("build");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        env.daemon.kill9_and_restart();
        let mut child = child;
        let _ = child.wait();
        let out = env.ok(&["build", "-t", "k", s(&ctx)]);
        assert!(out.contains("Successfully tagged k:latest"), "{out}");
        assert_eq!(
            env.ok(&["run", "--rm", "k"]),
            "one\ntwo\nthree\n",
            "after a kill at {delay_ms} ms"
        );
        // Every entry left points at a whole image.
        let cache = env.daemon.image_root().join("buildcache");
        for e in std::fs::read_dir(&cache).expect("cache").flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                name.ends_with(".json"),
                "a temporary file survived a restart's build: {name}"
            );
            let v: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path()).expect("entry")).expect("json");
            let id = v["image"].as_str().expect("image");
            env.ok(&["image", "inspect", id]);
        }
    }
    nothing_left(&env);
}

#[test]
fn builder_prune_empties_the_cache() {
    let env = Env::start("berth-build-prune-", "{}");
    let ctx = context(
        &env,
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN head -c 300000 /dev/zero > /blob\n",
        )],
    );
    env.ok(&["build", "-t", "p", s(&ctx)]);
    env.ok(&["rmi", "p"]);
    let kept = env.ok(&["builder", "prune", "-f", "--filter", "until=1h"]);
    assert!(
        kept.contains("Total reclaimed space: 0B"),
        "a fresh entry was pruned by until=1h: {kept}"
    );
    let out = env.ok(&["builder", "prune", "-f"]);
    assert!(out.contains("Deleted build cache objects:"), "{out}");
    let again = env.ok(&["build", "-t", "p", s(&ctx)]);
    assert!(
        again.contains("Running in") && !again.contains("Using cache"),
        "{again}"
    );
    // The API answers dockerd's shape.
    let r = ok(
        env.docker(&["builder", "prune", "-f"]),
        "docker builder prune",
    );
    assert!(r.contains("Total reclaimed space"), "{r}");
}

#[test]
fn docker_py_and_compose_build_against_berth() {
    let env = Env::start("berth-build-clients-", "{}");
    let ctx = multi_context(&env, "ctx");
    let py = format!(
        r#"
import docker
c = docker.DockerClient(base_url="{host}")
img, logs = c.images.build(path="{ctx}", tag="py:1", target="build", buildargs={{"GREETING": "py"}}, rm=True)
print("ID", img.id)
print(c.containers.run("py:1", ["cat", "/app/out.txt"], remove=True).decode(), end="")
"#,
        host = env.daemon.host(),
        ctx = ctx.display()
    );
    let o = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .expect("python3");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "docker-py: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("ID sha256:") && out.contains("py\nhello from a\n"),
        "{out}"
    );

    std::fs::write(
        ctx.join("compose.yaml"),
        "services:\n  app:\n    build:\n      context: .\n      target: final\n      args:\n        GREETING: compose\n",
    )
    .expect("compose file");
    let o = std::process::Command::new("/usr/local/bin/docker")
        .args([
            "compose",
            "-p",
            "bt",
            "up",
            "--build",
            "--abort-on-container-exit",
        ])
        .current_dir(&ctx)
        .env("DOCKER_HOST", env.daemon.host())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker-compose");
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "compose up --build: {out}");
    assert!(
        out.contains("compose") && out.contains("hello from a"),
        "{out}"
    );
    let down = std::process::Command::new("/usr/local/bin/docker")
        .args(["compose", "-p", "bt", "down"])
        .current_dir(&ctx)
        .env("DOCKER_HOST", env.daemon.host())
        .output()
        .expect("down");
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

#[test]
fn bind_mounts_read_other_stages_and_keep_their_writes() {
    let env = Env::start("berth-build-bind-", "{}");
    let df = "FROM busybox AS tools\nARG V=1\nRUN echo tool-v$V > /tool\n\nFROM busybox\nRUN --mount=type=bind,from=tools,source=/tool,target=/mnt/tool cat /mnt/tool > /used\nRUN --mount=type=bind,target=/ctx,rw echo scribble >> /ctx/data.txt && cat /ctx/data.txt > /seen\nCOPY data.txt /after.txt\n";
    let ctx = context(
        &env,
        "ctx",
        &[("Dockerfile", df), ("data.txt", "original\n")],
    );
    env.ok(&["build", "-t", "b", s(&ctx)]);
    let cat = |f: &str| env.ok(&["run", "--rm", "b", "cat", f]);
    assert_eq!(cat("/used"), "tool-v1\n");
    assert_eq!(cat("/seen"), "original\nscribble\n");
    assert_eq!(
        cat("/after.txt"),
        "original\n",
        "a read-write bind's write reached the context"
    );
    // The other stage changed: the step that binds it runs again.
    let out = env.ok(&["build", "-t", "b", "--build-arg", "V=2", s(&ctx)]);
    assert!(out.contains("Running in"), "{out}");
    assert_eq!(cat("/used"), "tool-v2\n");
    nothing_left(&env);
}

#[test]
fn instructions_set_the_image_config() {
    let env = Env::start("berth-build-config-", "{}");
    let base = "FROM busybox\nONBUILD RUN echo triggered > /onbuilt\n";
    let ctx = context(&env, "base", &[("Dockerfile", base)]);
    env.ok(&["build", "-t", "base:1", s(&ctx)]);
    let df = r#"FROM base:1
MAINTAINER someone@example.org
SHELL ["/bin/sh", "-ec"]
USER 1000:1000
WORKDIR /srv
WORKDIR data
ENV A=1 B="two words"
LABEL a=b
EXPOSE 80 53/udp
VOLUME /srv/data
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=2s --retries=4 CMD test -e /onbuilt
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $A $B"]
"#;
    let ctx = context(&env, "child", &[("Dockerfile", df)]);
    let id = ok(env.docker(&["build", "-q", s(&ctx)]), "build");
    let f = "{{.Author}}|{{json .Config.Shell}}|{{.Config.User}}|{{.Config.WorkingDir}}|{{json .Config.Env}}|{{json .Config.Labels}}|{{json .Config.ExposedPorts}}|{{json .Config.Volumes}}|{{.Config.StopSignal}}|{{json .Config.Healthcheck}}|{{json .Config.Entrypoint}}|{{json .Config.Cmd}}|{{json .Config.OnBuild}}";
    let got = ok(env.docker(&["inspect", "-f", f, id.trim()]), "inspect");
    for want in [
        "someone@example.org|",
        r#"["/bin/sh","-ec"]"#,
        "|1000:1000|/srv/data|",
        r#""A=1","B=two words""#,
        r#""a":"b""#,
        r#""53/udp":{}"#,
        r#""80/tcp":{}"#,
        r#"{"/srv/data":{}}"#,
        "|SIGINT|",
        r#""Test":["CMD-SHELL","test -e /onbuilt"],"Interval":5000000000,"Timeout":2000000000,"Retries":4"#,
        r#"|["/bin/sh","-c"]|["echo $A $B"]|null"#,
    ] {
        assert!(got.contains(want), "{want} not in {got}");
    }
    // The base's ONBUILD trigger ran in the child's build (and is not inherited further).
    assert_eq!(
        env.ok(&["run", "--rm", "--entrypoint", "cat", id.trim(), "/onbuilt"]),
        "triggered\n"
    );
    // Stdin forms: a Dockerfile alone, a tar context, a Dockerfile from stdin with a directory.
    let df_only = env.dir.path().join("Dockerfile.stdin");
    std::fs::write(&df_only, "FROM busybox\nRUN echo from-stdin > /f\n").expect("df");
    let run_stdin = |args: &[&str], input: &Path| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_HOST", env.daemon.host())
            .args(args)
            .stdin(std::fs::File::open(input).expect("input"))
            .output()
            .expect("berth");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run_stdin(&["build", "-q", "-t", "s1", "-"], &df_only);
    assert_eq!(env.ok(&["run", "--rm", "s1", "cat", "/f"]), "from-stdin\n");
    let tar = env.dir.path().join("ctx.tar");
    let t = std::process::Command::new("tar")
        .args(["-czf", s(&tar), "-C", s(&ctx), "."])
        .status()
        .expect("tar");
    assert!(t.success());
    run_stdin(&["build", "-q", "-t", "s2", "-"], &tar);
    run_stdin(&["build", "-q", "-t", "s3", "-f", "-", s(&ctx)], &df_only);
    assert_eq!(env.ok(&["run", "--rm", "s3", "cat", "/f"]), "from-stdin\n");
    nothing_left(&env);
}

#[test]
fn berth_build_on_a_terminal_shows_a_live_view() {
    let env = Env::start("berth-build-tty-", "{}");
    let df = "FROM busybox\nRUN echo working && sleep 0.3 && echo done-here\nCMD [\"true\"]\n";
    let ctx = context(&env, "ctx", &[("Dockerfile", df)]);
    // `script` gives the CLI a terminal, as a user's shell does.
    let cmd = format!(
        "{} build -t tty {}",
        env!("CARGO_BIN_EXE_berth"),
        ctx.display()
    );
    let o = std::process::Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("BERTH_HOST", env.daemon.host())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}");
    // Finished steps settle as one coloured line with their result and time; the running
    // step's output is shown under it while it runs; the raw builder lines are not printed.
    assert!(
        out.contains("\x1b[34m=> Step 2/3 : RUN echo working"),
        "{out}"
    );
    assert!(
        out.contains("   working"),
        "the running step's output: {out}"
    );
    assert!(!out.contains(" ---> Running in"), "{out}");
    assert!(out.contains("Successfully tagged tty:latest"), "{out}");
    // Without a terminal (or with --progress plain) the classic lines come as they are.
    let plain = env.ok(&["build", "--progress", "plain", "--no-cache", s(&ctx)]);
    assert!(
        plain.contains(" ---> Running in") && plain.contains("done-here"),
        "{plain}"
    );
}

#[test]
fn copy_flags_archives_parallel_stages_labels_and_iidfile() {
    let env = Env::start("berth-build-flags-", "{}");
    // Two stages that can only finish if they run at the same time: each waits for the
    // other's mark in a shared cache mount.
    let wait = |me: &str, other: &str| {
        format!(
            "RUN --mount=type=cache,target=/c,id=sync-{{}} touch /c/{me} && i=0 && while [ ! -e /c/{other} ]; do i=$((i+1)); [ $i -lt 200 ] || exit 9; sleep 0.05; done && echo {me} > /{me}\n"
        )
    };
    let token = format!("{}", std::process::id());
    let df = format!(
        "FROM busybox AS a\n{}FROM busybox AS b\n{}FROM busybox\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nCOPY --chown=1234:5678 --chmod=640 owned.txt /owned.txt\nCOPY --exclude=*.tmp tree/ /tree/\nCOPY --parents deep/x/y.txt /p/\nADD layer.tar.gz /unpacked/\n",
        wait("a", "b").replace("{}", &token),
        wait("b", "a").replace("{}", &token)
    );
    let ctx = context(
        &env,
        "ctx",
        &[
            ("Dockerfile", &df),
            ("owned.txt", "mine\n"),
            ("tree/keep.txt", "k\n"),
            ("tree/drop.tmp", "d\n"),
            ("deep/x/y.txt", "deep\n"),
        ],
    );
    let inner = context(&env, "inner", &[("inside/file.txt", "from the archive\n")]);
    let t = std::process::Command::new("tar")
        .args(["-czf", s(&ctx.join("layer.tar.gz")), "-C", s(&inner), "."])
        .status()
        .expect("tar");
    assert!(t.success());
    let iid = env.dir.path().join("iid");
    let out = env.docker(&[
        "build",
        "--iidfile",
        s(&iid),
        "--label",
        "built.by=test",
        "-t",
        "flags",
        s(&ctx),
    ]);
    let out = ok(out, "build");
    let id = std::fs::read_to_string(&iid).expect("iidfile");
    assert!(id.starts_with("sha256:"), "{id} {out}");
    let run = |cmd: &str| env.ok(&["run", "--rm", "flags", "sh", "-c", cmd]);
    assert_eq!(
        run("cat /a /b"),
        "a\nb\n",
        "the stages did not run side by side"
    );
    assert_eq!(run("stat -c '%u:%g %a' /owned.txt"), "1234:5678 640\n");
    assert_eq!(run("ls /tree"), "keep.txt\n");
    assert_eq!(run("cat /p/deep/x/y.txt"), "deep\n");
    assert_eq!(run("cat /unpacked/inside/file.txt"), "from the archive\n");
    let label = ok(
        env.docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"built.by\"}}",
            id.trim(),
        ]),
        "label",
    );
    assert_eq!(label.trim(), "test");
    // Remote sources are refused with a clear message.
    let ctx = context(
        &env,
        "url",
        &[(
            "Dockerfile",
            "FROM busybox\nADD https://example.invalid/x.tar /x\n",
        )],
    );
    let r = env.berth(&["build", s(&ctx)]);
    assert_ne!(r.code, 0);
    assert!(
        r.err.contains("cannot fetch https://example.invalid/x.tar"),
        "{}",
        r.err
    );
    // keep-storage larger than the cache keeps it all.
    let kept = env.ok(&["builder", "prune", "-f", "--keep-storage", "10GB"]);
    assert!(!kept.contains("Deleted build cache objects"), "{kept}");
    nothing_left(&env);
}

#[test]
fn cache_from_makes_the_given_images_the_only_cache_sources() {
    let env = Env::start("berth-build-cachefrom-", "{}");
    let df = "FROM busybox\nENV FOO=bar\nRUN touch baz\nRUN touch bax\n";
    let ctx = context(&env, "ctx", &[("Dockerfile", df)]);
    ok(env.docker(&["build", "-t", "build1", s(&ctx)]), "build1");
    let count = |out: &str| out.matches("Using cache").count();
    let out = ok(
        env.docker(&["build", "-t", "build2", "--cache-from", "build1", s(&ctx)]),
        "from build1",
    );
    assert_eq!(count(&out), 3, "{out}");
    // As dockerd's classic builder: with --cache-from, only those images are cache sources.
    let out = ok(
        env.docker(&[
            "build",
            "-t",
            "build3",
            "--cache-from",
            "nosuchtag",
            s(&ctx),
        ]),
        "nosuchtag",
    );
    assert_eq!(count(&out), 0, "{out}");
    let out = ok(env.docker(&["build", "-t", "build4", s(&ctx)]), "plain");
    assert_eq!(count(&out), 3, "{out}");
}

#[test]
fn run_options_reach_the_step_containers() {
    let env = Env::start("berth-build-runopts-", "{}");
    let df = "FROM busybox\nRUN --network=none ls /sys/class/net > /nets\nRUN --mount=type=tmpfs,target=/scratch,size=1048576 echo x > /scratch/f && grep ' /scratch ' /proc/mounts > /tmpfs && test ! -e /scratch/f.kept\nRUN grep -w extra.test /etc/hosts > /hosts && df -k /dev/shm | tail -1 > /shm && ulimit -n > /nofile\n";
    let ctx = context(&env, "ctx", &[("Dockerfile", df)]);
    env.ok(&[
        "build",
        "-t",
        "opts",
        "--add-host",
        "extra.test:10.1.2.3",
        "--shm-size",
        "32m",
        "--ulimit",
        "nofile=512:512",
        s(&ctx),
    ]);
    let cat = |f: &str| env.ok(&["run", "--rm", "opts", "cat", f]);
    assert_eq!(
        cat("/nets"),
        "lo\n",
        "RUN --network=none had more than loopback"
    );
    assert!(cat("/tmpfs").contains("tmpfs"), "no tmpfs mount");
    assert!(cat("/hosts").contains("10.1.2.3"), "--add-host missing");
    assert!(
        cat("/shm").contains("32768"),
        "--shm-size not applied: {}",
        cat("/shm")
    );
    assert_eq!(cat("/nofile"), "512\n");
    // The tmpfs mount and its content are not in the image.
    let r = env.berth(&["run", "--rm", "opts", "ls", "/scratch"]);
    assert!(
        r.code != 0 || r.out.trim().is_empty(),
        "tmpfs content in the layer: {}",
        r.out
    );
    nothing_left(&env);
}
