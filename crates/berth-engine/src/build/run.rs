//! `RUN`: the step's command in a container of the daemon's own making — the hardened
//! defaults of every container (seccomp, capabilities, pids limit, masked paths) — with the
//! step's mounts (cache directories kept between builds, binds of the context or of other
//! stages, tmpfs, secrets from memory), its output streamed to the client, and its upper
//! directory taken as the layer once mount points the step did not make are gone.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use berth_dockerfile::instructions::{MountKind, Run};
use berth_models::container::{Config, CreateRequest, HostConfig};

use super::copy::{Overlay, lowers};
use super::solve::State;
use super::{Build, cache};
use crate::{Error, Result};

fn bad(m: impl Into<String>) -> Error {
    Error::InvalidParameter(m.into())
}

/// The label of a build step's container: the daemon's pid.
pub(super) const BUILD_LABEL: &str = "com.berth.build.daemon";

/// Containers of steps running now (in this daemon): the sweep leaves them alone.
static ACTIVE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// `f` with the set of active step containers, locked.
pub(super) fn with_active<T>(f: impl FnOnce(&std::collections::BTreeSet<String>) -> T) -> T {
    let g = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    f(&g)
}

/// A step container's registration, ended when the step ends.
struct Active(String);

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut a) = ACTIVE.lock() {
            a.remove(&self.0);
        }
    }
}

/// Files the engine mounts into every container (never part of a layer).
const ENGINE_FILES: &[&str] = &["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// Whether `rel` exists in the stage's layers (top first), whiteouts considered.
fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    for l in lowers {
        match std::fs::symlink_metadata(l.join(rel)) {
            Ok(m) => return !crate::layer::is_whiteout(&m),
            Err(_) => {
                // A parent that is opaque or whited out hides what is below.
                let mut hidden = false;
                for p in rel.ancestors().skip(1) {
                    if p.as_os_str().is_empty() {
                        break;
                    }
                    if let Ok(m) = std::fs::symlink_metadata(l.join(p)) {
                        hidden = crate::layer::is_whiteout(&m) || crate::layer::opaque(&l.join(p));
                        break;
                    }
                }
                if hidden {
                    return false;
                }
            }
        }
    }
    false
}

/// Remove mount points the runtime created in `upper` for paths the image lacked (empty
/// files and directories), and their created parents.
fn remove_stubs(upper: &Path, lowers: &[PathBuf], targets: &[String]) {
    for t in targets {
        let rel: PathBuf = berth_fs::clamp(Path::new(t)).into_iter().collect();
        let mut cur = Some(rel.as_path());
        while let Some(r) = cur.filter(|r| !r.as_os_str().is_empty()) {
            let p = upper.join(r);
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                break;
            };
            let gone = if in_lowers(lowers, r) {
                // A directory of the image copied up only to hold a mount point.
                m.is_dir() && !crate::layer::opaque(&p) && std::fs::remove_dir(&p).is_ok()
            } else if m.is_dir() {
                std::fs::remove_dir(&p).is_ok()
            } else if m.is_file() && m.len() == 0 {
                std::fs::remove_file(&p).is_ok()
            } else {
                false
            };
            if !gone {
                break;
            }
            cur = r.parent();
        }
    }
}

impl Build<'_> {
    pub(super) fn run_step(
        &self,
        st: &mut State,
        r: &Run,
        shell: &[String],
        done: &BTreeMap<usize, State>,
    ) -> Result<()> {
        if r.security.as_deref() == Some("insecure") {
            return Err(bad(
                "RUN --security=insecure is not allowed: this daemon does not grant the security.insecure entitlement",
            ));
        }
        let argv = self.argv(r, shell);
        // The args in scope are the step's environment (not the image's) and part of its key.
        let args: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mounts = format!("{:?}", r.mounts);
        let mut mount_keys = Vec::new();
        for m in &r.mounts {
            if m.kind == MountKind::Bind {
                mount_keys.push(self.bind_key(m, done)?);
            }
        }
        let key = cache::key(
            &st.key,
            &[
                "RUN",
                &serde_json::to_string(&argv).unwrap_or_default(),
                &args.join("\0"),
                &mounts,
                &mount_keys.join("\0"),
                &format!("{:?}", r.network),
                &format!("{:?}", r.heredocs),
            ],
        );
        let created_by = if args.is_empty() {
            format!("RUN {} # buildkit", argv.join(" "))
        } else {
            format!(
                "RUN |{} {} {} # buildkit",
                args.len(),
                args.join(" "),
                argv.join(" ")
            )
        };
        self.layer_step(st, key, created_by, |st| {
            self.run_container(st, r, argv, done)
        })
    }

    fn argv(&self, r: &Run, shell: &[String]) -> Vec<String> {
        if !r.cmd.shell {
            return r.cmd.args.clone();
        }
        let line = r.cmd.args.first().cloned().unwrap_or_default();
        let mut script = line.clone();
        if !r.heredocs.is_empty() {
            let only = r.heredocs.len() == 1
                && berth_dockerfile::parser::heredoc_word(line.trim())
                    .ok()
                    .flatten()
                    .is_some();
            if only {
                let h = &r.heredocs[0];
                let content = h.text();
                if let Some(first) = content.lines().next().and_then(|l| l.strip_prefix("#!")) {
                    // A script with an interpreter: the interpreter reads it from the shell's heredoc.
                    let interp = first.trim().to_owned();
                    return shell
                        .iter()
                        .cloned()
                        .chain([format!(
                            "{interp} /dev/stdin <<'{n}'\n{content}{n}\n",
                            n = h.name
                        )])
                        .collect();
                }
                return shell.iter().cloned().chain([content]).collect();
            }
            script.push('\n');
            for h in &r.heredocs {
                script.push_str(&h.content);
                script.push_str(&h.name);
                script.push('\n');
            }
        }
        shell.iter().cloned().chain([script]).collect()
    }

    /// What a bind mount's source contributes to the key.
    fn bind_key(
        &self,
        m: &berth_dockerfile::instructions::Mount,
        done: &BTreeMap<usize, State>,
    ) -> Result<String> {
        if m.from.is_empty() {
            let src = if m.source.is_empty() {
                "."
            } else {
                m.source.as_str()
            };
            let reals = self.ctx.resolve(&[src.to_owned()], "RUN --mount")?;
            return self.ctx.checksum(&reals);
        }
        // Another stage's or an image's files: keyed by their content.
        let (ov, _) = self.mount_source(&m.from, done)?;
        let src = if m.source.is_empty() {
            ".".to_owned()
        } else {
            m.source.clone()
        };
        let s = super::context::sources(&ov.merged, &[src], "RUN --mount")?;
        super::context::checksum(&s)
    }

    fn run_container(
        &self,
        st: &mut State,
        r: &Run,
        argv: Vec<String>,
        done: &BTreeMap<usize, State>,
    ) -> Result<PathBuf> {
        let engine = self.engine;
        let Some(image) = st.image.clone() else {
            return Err(bad(
                "RUN needs a root filesystem with a shell: the stage is FROM scratch and nothing was copied into it",
            ));
        };
        let mut env: Vec<String> = st.config().env.clone().unwrap_or_default();
        for (k, v) in &st.args {
            if !env.iter().any(|e| e.split('=').next() == Some(k.as_str())) {
                env.push(format!("{k}={v}"));
            }
        }
        let mut hc = HostConfig {
            network_mode: match r.network.as_deref() {
                Some("none") => "none".into(),
                Some("host") => "host".into(),
                _ => match self.opts.network_mode.as_str() {
                    "" | "default" => "bridge".into(),
                    other => other.into(),
                },
            },
            shm_size: self.opts.shm_size,
            ..Default::default()
        };
        if !self.opts.ulimits.is_empty() {
            hc.resources.ulimits = Some(self.opts.ulimits.clone());
        }
        if !self.opts.extra_hosts.is_empty() {
            hc.extra_hosts = Some(self.opts.extra_hosts.clone());
        }
        let mut binds: Vec<String> = Vec::new();
        let mut tmpfs: BTreeMap<String, String> = BTreeMap::new();
        let mut targets: Vec<String> = ENGINE_FILES.iter().map(|s| s.to_string()).collect();
        let mut _keep: Vec<Overlay> = Vec::new();
        let mut _locks: Vec<nix::fcntl::Flock<std::fs::File>> = Vec::new();
        let mut secrets_dir: Option<super::MemDir> = None;
        let wd = st.config().working_dir.clone();
        let abs = |t: &str| {
            if t.starts_with('/') {
                t.to_owned()
            } else {
                format!(
                    "{}/{t}",
                    if wd.is_empty() {
                        ""
                    } else {
                        wd.trim_end_matches('/')
                    }
                )
            }
        };
        // The image's VOLUMEs are not volumes during a build: a tmpfs covers each (what a
        // step writes there is not kept, as with the classic builder).
        for v in st.config().volumes.iter().flatten().map(|(k, _)| k) {
            tmpfs.insert(v.clone(), String::new());
            targets.push(v.clone());
        }
        for m in &r.mounts {
            let target = abs(&m.target);
            match m.kind {
                MountKind::Cache => {
                    let dir = engine
                        .config
                        .data_root
                        .join("build-cache-mounts")
                        .join(cache::key("", &["cache-mount", &m.id]));
                    let fresh = !dir.exists();
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
                    if fresh {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            &dir,
                            std::fs::Permissions::from_mode(m.mode.unwrap_or(0o755)),
                        );
                        let _ =
                            nix::unistd::chown(&dir, m.uid.map(Into::into), m.gid.map(Into::into));
                    }
                    if m.sharing == "locked" {
                        let f = std::fs::File::create(dir.with_extension("lock"))
                            .map_err(|e| Error::io("cache lock", e))?;
                        _locks.push(
                            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                                .map_err(|(_, e)| Error::io("cache lock", e.into()))?,
                        );
                    }
                    binds.push(format!(
                        "{}:{target}:{}",
                        dir.display(),
                        if m.readonly { "ro" } else { "rw" }
                    ));
                }
                MountKind::Bind => {
                    let src_root = if m.from.is_empty() {
                        self.ctx.files()?
                    } else {
                        let (ov, _) = self.mount_source(&m.from, done)?;
                        let p = ov.merged.clone();
                        _keep.push(ov);
                        p
                    };
                    let src = if m.source.is_empty() {
                        ".".to_owned()
                    } else {
                        m.source.clone()
                    };
                    let s = super::context::sources(&src_root, &[src], "RUN --mount")?;
                    let mut path = s.first().map(|s| s.path.clone()).unwrap_or(src_root);
                    // Writes to a read-write bind are the step's only: it binds a copy.
                    if !m.readonly {
                        let copy = self
                            .work
                            .join(format!("bind-{}", crate::util::random_hex(6)));
                        super::copy::copy_tree(&path, &copy)?;
                        path = copy;
                    }
                    binds.push(format!(
                        "{}:{target}:{}",
                        path.display(),
                        if m.readonly { "ro" } else { "rw" }
                    ));
                }
                MountKind::Tmpfs => {
                    tmpfs.insert(
                        target.clone(),
                        m.size.map(|s| format!("size={s}")).unwrap_or_default(),
                    );
                }
                MountKind::Secret => {
                    let Some(data) = self.opts.secrets.get(&m.id) else {
                        if m.required {
                            return Err(bad(format!(
                                "secret {} not found: it was not given to the build (--secret id={},src=FILE)",
                                m.id, m.id
                            )));
                        }
                        continue;
                    };
                    if !m.env.is_empty() {
                        env.push(format!("{}={}", m.env, String::from_utf8_lossy(data)));
                        if m.target.is_empty() {
                            continue;
                        }
                    }
                    if secrets_dir.is_none() {
                        secrets_dir = Some(super::MemDir::new(
                            self.work
                                .join(format!("secrets-{}", crate::util::random_hex(4))),
                        )?);
                    }
                    let dir = &secrets_dir
                        .as_ref()
                        .map(|d| d.0.clone())
                        .unwrap_or_default();
                    let f = dir.join(cache::key("", &["secret", &m.id]));
                    let mut file =
                        std::fs::File::create(&f).map_err(|e| Error::io("write secret", e))?;
                    file.write_all(data)
                        .map_err(|e| Error::io("write secret", e))?;
                    {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            &f,
                            std::fs::Permissions::from_mode(m.mode.unwrap_or(0o400)),
                        );
                    }
                    let _ = nix::unistd::chown(
                        &f,
                        Some(m.uid.unwrap_or(0).into()),
                        Some(m.gid.unwrap_or(0).into()),
                    );
                    binds.push(format!("{}:{target}:ro", f.display()));
                }
                MountKind::Ssh => {
                    return Err(bad(format!(
                        "no SSH key {:?} forwarded from the client (RUN --mount=type=ssh needs `--ssh`, which this daemon does not take yet)",
                        m.id
                    )));
                }
            }
            targets.push(target);
        }
        if !binds.is_empty() {
            hc.binds = Some(binds);
        }
        if !tmpfs.is_empty() {
            hc.tmpfs = Some(tmpfs);
        }
        let req = CreateRequest {
            config: Config {
                image: image.clone(),
                entrypoint: Some(argv.clone()),
                cmd: None,
                env: Some(env),
                user: st.config().user.clone(),
                working_dir: wd.clone(),
                attach_stdout: true,
                attach_stderr: true,
                // Whose step it is: a daemon that died mid-build leaves it to the next build.
                labels: Some([(BUILD_LABEL.to_owned(), std::process::id().to_string())].into()),
                ..Default::default()
            },
            host_config: Some(hc),
            networking_config: None,
        };
        let containers = &engine.containers;
        // Created and registered under the lock the sweep holds: it never sees it unregistered.
        let (id, _active) = {
            let mut a = ACTIVE
                .lock()
                .map_err(|_| Error::Internal("build lock poisoned".into()))?;
            let created = containers.create(&engine.images, req, None)?;
            a.insert(created.id.clone());
            (created.id.clone(), Active(created.id))
        };
        let short = &id[..12];
        self.say(&format!(" ---> Running in {short}\n"));
        let result = self.run_and_wait(&id, &argv);
        // The upper directory is taken before the container goes.
        let upper = self.work.join(format!("run-{short}"));
        let moved = result
            .as_ref()
            .ok()
            .map(|_| std::fs::rename(containers.dir_of(&id).join("upper"), &upper));
        // Removed now; if that fails (a busy moment), the next build's sweep removes it.
        for _ in 0..3 {
            if containers.remove(&id, true, true).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.say(&format!(" ---> Removed intermediate container {short}\n"));
        result?;
        match moved {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                return Err(Error::io(format!("take the upper directory of {short}"), e));
            }
            None => {}
        }
        remove_stubs(&upper, &lowers(self, st), &targets);
        Ok(upper)
    }

    /// Start the container, stream its output, wait for its end; a non-zero exit is the
    /// step's failure with the exit code and the last lines of output.
    fn run_and_wait(&self, id: &str, argv: &[String]) -> Result<()> {
        let containers = &self.engine.containers;
        let mut streams = containers.attach(
            id,
            crate::containers::io::AttachOptions {
                stdout: true,
                stderr: true,
                stdin: false,
                logs: true,
            },
        )?;
        containers.start(&self.engine.images, id)?;
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let mut partial = String::new();
        while let Some(o) = streams.output.blocking_recv() {
            let text = String::from_utf8_lossy(&o.data).into_owned();
            // Standard error in red, as dockerd's builder marks it.
            if o.stream == crate::containers::io::Stream::Stderr {
                self.say(&format!("\x1b[91m{text}\x1b[0m"));
            } else {
                self.say(&text);
            }
            partial.push_str(&text);
            while let Some(nl) = partial.find('\n') {
                let line: String = partial.drain(..=nl).collect();
                tail.push_back(line.trim_end().to_owned());
                if tail.len() > 10 {
                    tail.pop_front();
                }
            }
        }
        if !partial.trim().is_empty() {
            tail.push_back(partial.trim_end().to_owned());
        }
        // The attach ends with the exit; the state says how.
        let st = wait_exit(containers, id)?;
        if st != 0 {
            let mut msg = format!(
                "The command '{}' returned a non-zero code: {st}",
                argv.join(" ")
            );
            if !tail.is_empty() {
                msg.push_str("\nlast output lines:\n");
                for l in &tail {
                    msg.push_str(&format!("  {l}\n"));
                }
            }
            return Err(Error::Build {
                code: st,
                message: msg.trim_end().to_owned(),
            });
        }
        Ok(())
    }
}

fn wait_exit(containers: &crate::containers::Containers, id: &str) -> Result<i64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut b = crate::util::Backoff::new();
    loop {
        let s = containers.state(id)?;
        if !s.alive() {
            return Ok(s.exit_code);
        }
        if std::time::Instant::now() > deadline {
            return Err(Error::Internal(format!(
                "build container {id} did not end after its output closed"
            )));
        }
        std::thread::sleep(b.step());
    }
}
