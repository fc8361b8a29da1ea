//! One build asked for by `Control/Solve`: its exporters, its status, and the result the
//! gateway's `Return` hands back; and the `dockerfile.v0` frontend run on Berth's builder
//! (context and Dockerfile fetched from the client's session).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use berth_engine::build::BuildOptions;
use berth_models::container::Ulimit;
use tokio::sync::watch;
use tonic::Status;

use crate::Frontend;
use crate::proto::*;
use crate::session::{self, Session};
use crate::status::{Progress, StepSink};

/// What the gateway returned: the result's refs (image ids), or the frontend's error.
type Returned = Option<Result<Vec<String>, String>>;

pub struct Job {
    pub session: String,
    pub exporters: Vec<Exporter>,
    pub progress: Arc<Progress>,
    result: watch::Sender<Returned>,
}

impl Job {
    pub fn returned(&self, r: ReturnRequest) {
        let v = match (r.error, r.result) {
            (Some(e), _) if e.code != 0 => Err(e.message),
            (_, Some(res)) => Ok(res.ref_ids()),
            _ => Ok(Vec::new()),
        };
        self.result.send_replace(Some(v));
    }

    /// The image names the exporters ask for.
    fn names(&self) -> Vec<String> {
        self.exporters
            .iter()
            .filter_map(|e| e.attrs.get("name"))
            .flat_map(|n| n.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// The context's in-memory limit: as the classic builder's (half the RAM, at most 8 GiB).
fn context_limit() -> u64 {
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(4 << 20)
        * 1024;
    (mem / 2).min(8 << 30)
}

fn ignore_patterns(text: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(text)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// The secret ids the Dockerfile's `RUN --mount=type=secret` ask for.
fn secret_ids(dockerfile: &str) -> Vec<String> {
    use berth_dockerfile::instructions::{Instruction, MountKind};
    let Ok(p) = berth_dockerfile::parser::parse(dockerfile) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for n in &p.nodes {
        if let Ok(Instruction::Run(r)) = Instruction::from_node(n) {
            for m in r.mounts {
                if m.kind == MountKind::Secret && !ids.contains(&m.id) {
                    ids.push(m.id);
                }
            }
        }
    }
    ids
}

/// The frontend's options (`build-arg:X`, `label:X`, `target`, `no-cache`, …) as Berth's.
fn options(
    o: &HashMap<String, String>,
    tags: Vec<String>,
    dockerfile: String,
) -> Result<BuildOptions, Status> {
    let bad = |k: &str, v: &str| Status::invalid_argument(format!("invalid {k} value {v:?}"));
    let mut b = BuildOptions {
        tags,
        dockerfile,
        ..Default::default()
    };
    for (k, v) in o {
        if let Some(a) = k.strip_prefix("build-arg:") {
            b.build_args.insert(a.to_owned(), Some(v.clone()));
        } else if let Some(l) = k.strip_prefix("label:") {
            b.labels.insert(l.to_owned(), v.clone());
        } else if k.starts_with("context:") {
            return Err(Status::unimplemented(format!(
                "named build contexts are not supported by Berth's builder ({k}={v})"
            )));
        }
    }
    b.target = o.get("target").cloned().unwrap_or_default();
    b.no_cache = o.contains_key("no-cache");
    b.pull = o.get("image-resolve-mode").map(String::as_str) == Some("pull");
    b.network_mode = o.get("force-network-mode").cloned().unwrap_or_default();
    b.platform = o.get("platform").cloned().unwrap_or_default();
    if let Some(h) = o.get("add-hosts") {
        b.extra_hosts = h
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.replacen('=', ":", 1))
            .collect();
    }
    if let Some(s) = o.get("shm-size").filter(|s| !s.is_empty()) {
        b.shm_size = s.parse().map_err(|_| bad("shm-size", s))?;
    }
    if let Some(u) = o.get("ulimit").filter(|s| !s.is_empty()) {
        for one in u.split(',') {
            let (name, limits) = one.split_once('=').ok_or_else(|| bad("ulimit", one))?;
            let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
            b.ulimits.push(Ulimit {
                name: name.to_owned(),
                soft: soft.parse().map_err(|_| bad("ulimit", one))?,
                hard: hard.parse().map_err(|_| bad("ulimit", one))?,
            });
        }
    }
    if let Some(c) = o.get("context").filter(|c| !c.is_empty()) {
        return Err(Status::unimplemented(format!(
            "build contexts other than a local directory are not supported by Berth's builder (context={c})"
        )));
    }
    Ok(b)
}

/// `app` → `docker.io/library/app:latest`, as BuildKit names what it exports.
fn full_name(n: &str) -> String {
    let (first, _) = n.split_once('/').unwrap_or(("", n));
    let domain = first.contains(['.', ':']) || first == "localhost";
    let mut out = match (n.contains('/'), domain) {
        (false, _) => format!("docker.io/library/{n}"),
        (true, false) => format!("docker.io/{n}"),
        (true, true) => n.to_owned(),
    };
    let last = out.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !last.contains('@') {
        out.push_str(":latest");
    }
    out
}

/// A failed `RUN` as BuildKit words it (its output is in the step's log already).
fn buildkit_error(e: &berth_engine::Error) -> String {
    if let berth_engine::Error::Build { code, message } = e {
        let first = message.lines().next().unwrap_or_default();
        if let Some(cmd) = first
            .strip_prefix("The command '")
            .and_then(|r| r.rsplit_once("' returned"))
            .map(|(c, _)| c)
        {
            return format!("process \"{cmd}\" did not complete successfully: exit code: {code}");
        }
    }
    e.to_string()
}

fn find<'a>(entries: &'a [session::Entry], path: &str) -> Option<&'a session::Entry> {
    entries
        .iter()
        .find(|e| e.stat.path.trim_start_matches('/') == path && session::is_regular(e.stat.mode))
}

impl Frontend {
    /// `Control/Solve`: a `dockerfile.v0` build, or the gateway's (the client drives the
    /// frontend through `LLBBridge` and returns the result); then the image exporter.
    pub(crate) async fn solve(self: Arc<Self>, r: SolveRequest) -> Result<SolveResponse, Status> {
        if r.definition.as_ref().is_some_and(|d| !d.is_empty()) && r.frontend.is_empty() {
            return Err(Status::unimplemented(
                "LLB definitions are not supported: Berth's builder runs Dockerfiles (frontend dockerfile.v0)",
            ));
        }
        let mut exporters = r.exporters.clone();
        if exporters.is_empty() && !r.exporter_deprecated.is_empty() {
            exporters.push(Exporter {
                r#type: r.exporter_deprecated.clone(),
                attrs: r.exporter_attrs_deprecated.clone(),
            });
        }
        for e in &exporters {
            if !matches!(e.r#type.as_str(), "moby" | "image") {
                return Err(Status::unimplemented(format!(
                    "exporter {:?} is not supported by Berth's builder: images go to the daemon's store (the image exporter, --load)",
                    e.r#type
                )));
            }
        }
        let job = Arc::new(Job {
            session: r.session.clone(),
            exporters,
            progress: Arc::new(Progress::new(&r.r#ref)),
            result: watch::channel(None).0,
        });
        if let Ok(mut j) = self.jobs.lock() {
            j.insert(r.r#ref.clone(), job.clone());
        }
        let result = match r.frontend.as_str() {
            "dockerfile.v0" => self
                .run_dockerfile(&job, &r.frontend_attrs)
                .await
                .map(|id| vec![id]),
            "" => self.wait_return(&job).await,
            f => Err(Status::unimplemented(format!(
                "frontend {f:?} is not supported: Berth's builder runs Dockerfiles (dockerfile.v0)"
            ))),
        };
        let out = result.map(|ids| {
            let id = ids.into_iter().next().unwrap_or_default();
            let names = job.names();
            let p = &job.progress;
            let s = p.start("exporting to image");
            p.log(&s, 1, format!("writing image {id} done\n").as_bytes());
            for n in &names {
                let n = full_name(n);
                p.log(&s, 1, format!("naming to {n} done\n").as_bytes());
            }
            p.complete(&s, false, "");
            let mut resp = HashMap::from([
                ("containerimage.digest".to_owned(), id.clone()),
                ("containerimage.config.digest".to_owned(), id),
            ]);
            if !names.is_empty() {
                resp.insert("image.name".into(), names.join(","));
            }
            SolveResponse {
                exporter_response: resp,
            }
        });
        job.progress.finish();
        let me = self.clone();
        let id = r.r#ref;
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            if let Ok(mut j) = me.jobs.lock() {
                j.remove(&id);
            }
        });
        out
    }

    /// Wait for the gateway's `Return`; the client's going (its session closing) ends it.
    async fn wait_return(&self, job: &Job) -> Result<Vec<String>, Status> {
        let mut rx = job.result.subscribe();
        let mut seen = false;
        let mut waited = Duration::ZERO;
        loop {
            if let Some(r) = rx.borrow_and_update().clone() {
                return r.map_err(Status::unknown);
            }
            let tick = Duration::from_secs(1);
            match tokio::time::timeout(tick, rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return Err(Status::aborted("the build was dropped")),
                Err(_) => {
                    waited += tick;
                    let alive = self.session_now(&job.session).is_some();
                    seen |= alive;
                    if (seen && !alive) || (!seen && waited > Duration::from_secs(60)) {
                        return Err(Status::cancelled(
                            "the client's session closed before the build returned",
                        ));
                    }
                }
            }
        }
    }

    /// `LLBBridge/Solve`: the client asks for the `dockerfile.v0` frontend.
    pub(crate) async fn gateway_solve(
        &self,
        build: &str,
        r: GwSolveRequest,
    ) -> Result<GwSolveResponse, Status> {
        let job = self.job(build).await?;
        match r.frontend.as_str() {
            "dockerfile.v0" => {}
            "" if r.definition.as_ref().is_none_or(|d| d.is_empty()) => {
                return Ok(GwSolveResponse {
                    r#ref: String::new(),
                    result: Some(GwResult::default()),
                });
            }
            "" => {
                return Err(Status::unimplemented(
                    "LLB definitions are not supported: Berth's builder runs Dockerfiles (frontend dockerfile.v0)",
                ));
            }
            f => {
                return Err(Status::unimplemented(format!(
                    "frontend {f:?} is not supported: Berth's builder runs Dockerfiles (dockerfile.v0)"
                )));
            }
        }
        let id = self.run_dockerfile(&job, &r.frontend_opt).await?;
        Ok(GwSolveResponse {
            r#ref: String::new(),
            result: Some(GwResult {
                result: Some(ResultKind::Ref(Ref { id })),
                metadata: HashMap::new(),
            }),
        })
    }

    /// Fetch the Dockerfile, the ignore file and the context from the client's session, then
    /// build on Berth's builder. The image id.
    async fn run_dockerfile(
        &self,
        job: &Job,
        o: &HashMap<String, String>,
    ) -> Result<String, Status> {
        let s: Session = self.session(&job.session).await?;
        let p = &job.progress;
        let filename = o
            .get("filename")
            .filter(|f| !f.is_empty())
            .cloned()
            .unwrap_or_else(|| "Dockerfile".into());
        // Checked before any transfer: named contexts, remote contexts.
        options(o, Vec::new(), String::new())?;
        let ignore_name = format!("{filename}.dockerignore");
        // The session's names for the two directories (buildx renames them for a Dockerfile
        // from standard input).
        let name = |k: &str, d: &str| {
            o.get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .unwrap_or_else(|| d.to_owned())
        };
        let (ctx_dir, df_dir) = (
            name("contextkey", "context"),
            name("dockerfilekey", "dockerfile"),
        );

        let v = p.start(&format!("[internal] load build definition from {filename}"));
        let df = session::diff_copy(
            &s,
            &df_dir,
            &[filename.clone(), ignore_name.clone()],
            &[],
            64 << 20,
        )
        .await
        .inspect_err(|e| p.complete(&v, false, e.message()))?;
        let Some(text) = find(&df, &filename).map(|e| e.data.clone()) else {
            let m =
                format!("failed to read dockerfile: open {filename}: no such file or directory");
            p.complete(&v, false, &m);
            return Err(Status::not_found(m));
        };
        p.log(
            &v,
            1,
            format!("transferring dockerfile: {}B done\n", text.len()).as_bytes(),
        );
        p.complete(&v, false, "");

        let v = p.start("[internal] load .dockerignore");
        let ignore = match find(&df, &ignore_name) {
            Some(e) => Some(e.data.clone()),
            None => session::diff_copy(&s, &ctx_dir, &[".dockerignore".into()], &[], 64 << 20)
                .await
                .inspect_err(|e| p.complete(&v, false, e.message()))?
                .iter()
                .find(|e| e.stat.path == ".dockerignore")
                .map(|e| e.data.clone()),
        };
        let mut patterns = ignore.as_deref().map(ignore_patterns).unwrap_or_default();
        p.complete(&v, false, "");

        let v = p.start("[internal] load build context");
        let ctx = session::diff_copy(&s, &ctx_dir, &[], &patterns, context_limit())
            .await
            .inspect_err(|e| p.complete(&v, false, e.message()))?;
        let bytes: usize = ctx.iter().map(|e| e.data.len()).sum();
        p.log(
            &v,
            1,
            format!("transferring context: {bytes}B done\n").as_bytes(),
        );
        p.complete(&v, false, "");

        // The Dockerfile as a context file: the context's own when it is the same text, else
        // one added under a hidden name (and left out of the context by its ignore file).
        let mut extra = Vec::new();
        let dockerfile = match find(&ctx, &filename) {
            Some(e) if e.data == text => filename.clone(),
            _ => {
                let name = format!(".berth-dockerfile-{:x}", std::process::id() ^ bytes as u32);
                patterns.push(format!("/{name}"));
                patterns.push(format!("/{name}.dockerignore"));
                extra.push((name.clone(), text.clone()));
                extra.push((
                    format!("{name}.dockerignore"),
                    patterns.join("\n").into_bytes(),
                ));
                name
            }
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        let mut secrets = BTreeMap::new();
        for id in secret_ids(&text) {
            if let Some(d) = session::secret(&s, &id).await? {
                secrets.insert(id, d);
            }
        }
        let mut opts = options(o, job.names(), dockerfile)?;
        opts.dockerfile_name = filename.clone();
        opts.secrets = secrets;
        let tar = session::to_tar(&ctx, &extra).map_err(|e| Status::internal(e.to_string()))?;
        drop(ctx);

        let first = p.start("[internal] load metadata");
        p.complete(&first, false, "");
        let sink = Arc::new(StepSink::new(p.clone(), first));
        let engine = self.engine.clone();
        let handle = tokio::runtime::Handle::current();
        let sk = sink.clone();
        let r = tokio::task::spawn_blocking(move || {
            engine.build(&opts, std::io::Cursor::new(tar), &*sk, handle)
        })
        .await
        .map_err(|e| Status::internal(format!("the build panicked: {e}")))?;
        match r {
            Ok(id) => {
                sink.end("");
                Ok(id)
            }
            Err(e) => {
                let m = buildkit_error(&e);
                sink.end(&m);
                Err(Status::unknown(m))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frontend_options_become_build_options() {
        let o: HashMap<String, String> = [
            ("build-arg:A", "1"),
            ("label:l", "v"),
            ("target", "t"),
            ("no-cache", ""),
            ("image-resolve-mode", "pull"),
            ("add-hosts", "h=10.0.0.1,g=10.0.0.2"),
            ("shm-size", "1048576"),
            ("ulimit", "nofile=1024:2048"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let b = options(&o, vec!["x".into()], "Dockerfile".into()).expect("options");
        assert_eq!(b.build_args.get("A"), Some(&Some("1".into())));
        assert_eq!(b.labels.get("l").map(String::as_str), Some("v"));
        assert_eq!(b.target, "t");
        assert!(b.no_cache && b.pull);
        assert_eq!(b.extra_hosts, vec!["h:10.0.0.1", "g:10.0.0.2"]);
        assert_eq!(b.shm_size, 1 << 20);
        assert_eq!((b.ulimits[0].soft, b.ulimits[0].hard), (1024, 2048));
        let named: HashMap<String, String> =
            [("context:base".to_string(), "docker-image://x".to_string())].into();
        let e = options(&named, vec![], String::new()).expect_err("named contexts");
        assert!(e.message().contains("context:base"), "{}", e.message());
        assert!(
            options(
                &[("ulimit".into(), "x".into())].into(),
                vec![],
                String::new()
            )
            .is_err()
        );
    }

    #[test]
    fn exported_names_are_full() {
        assert_eq!(full_name("app"), "docker.io/library/app:latest");
        assert_eq!(full_name("me/app:1"), "docker.io/me/app:1");
        assert_eq!(full_name("localhost:5000/app"), "localhost:5000/app:latest");
    }

    #[test]
    fn a_failed_run_reads_as_buildkits() {
        let e = berth_engine::Error::Build {
            code: 3,
            message: "The command '/bin/sh -c exit 3' returned a non-zero code: 3\nlast output lines:\n  x".into(),
        };
        assert_eq!(
            buildkit_error(&e),
            "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3"
        );
    }

    #[test]
    fn secret_ids_come_from_run_mounts() {
        let df = "FROM x\nRUN --mount=type=secret,id=a cat /run/secrets/a\nRUN --mount=type=secret,id=b,env=B --mount=type=cache,target=/c true\n";
        assert_eq!(secret_ids(df), vec!["a", "b"]);
        assert_eq!(
            ignore_patterns(b"# c\n\nnode_modules\n !x \n"),
            vec!["node_modules", "!x"]
        );
    }
}
