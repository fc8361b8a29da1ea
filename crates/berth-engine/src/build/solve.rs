//! Stages and steps: the stages the target needs, those whose dependencies are built running
//! side by side; each step dispatched with the stage's variables of that moment, its cache key
//! derived from the parent's, and layer steps (`RUN`, `COPY`, `ADD`) taken from the cache or
//! made and recorded as intermediate images.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use berth_dockerfile::instructions::{Command, Health, Instruction};
use berth_dockerfile::shell::Lex;
use berth_dockerfile::stages::Step;
use berth_image::Digest;
use berth_models::container::HealthConfig;
use berth_models::image::{ConfigFile, ConfigHistory};

use super::{Build, arg_env, cache};
use crate::{Error, Result};

/// A stage as far as it is built.
#[derive(Debug, Clone, Default)]
pub(super) struct State {
    /// The last recorded image (the base, or a layer step's result).
    pub image: Option<String>,
    pub cfg: ConfigFile,
    pub layers: Vec<Digest>,
    pub chains: Vec<Digest>,
    pub key: String,
    /// `ARG`s in scope, with values.
    pub args: Vec<(String, String)>,
    /// `CMD` was set in this stage (an `ENTRYPOINT` then keeps it).
    pub cmd_set: bool,
}

impl State {
    pub fn config(&self) -> &berth_models::container::Config {
        static EMPTY: std::sync::OnceLock<berth_models::container::Config> =
            std::sync::OnceLock::new();
        self.cfg
            .config
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(Default::default))
    }
    fn config_mut(&mut self) -> &mut berth_models::container::Config {
        self.cfg.config.get_or_insert_with(Default::default)
    }
    /// Variables for expansion: the args, then the environment (which wins).
    pub fn vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        for e in self.config().env.iter().flatten() {
            let (k, val) = e.split_once('=').unwrap_or((e, ""));
            v.push((k.to_owned(), val.to_owned()));
        }
        v
    }
    pub fn shell(&self) -> Vec<String> {
        self.config()
            .shell
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }
}

fn health(h: &Health) -> std::result::Result<HealthConfig, String> {
    let d = |o: &Option<String>| {
        o.as_deref()
            .map(|v| {
                crate::time::parse_go_duration(v).ok_or_else(|| format!("invalid duration {v:?}"))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(HealthConfig {
        test: Some(h.test.clone()),
        interval: d(&h.interval)?,
        timeout: d(&h.timeout)?,
        start_period: d(&h.start_period)?,
        start_interval: d(&h.start_interval)?,
        retries: match &h.retries {
            Some(r) => r.parse().map_err(|_| format!("invalid retries {r:?}"))?,
            None => 0,
        },
    })
}

fn argv(c: &Command, shell: &[String]) -> Vec<String> {
    if c.shell {
        shell
            .iter()
            .cloned()
            .chain(c.args.iter().cloned())
            .collect()
    } else {
        c.args.clone()
    }
}

impl Build<'_> {
    pub(super) fn say(&self, s: &str) {
        if !self.opts.quiet {
            self.sink.stream(s);
        }
    }

    fn step_header(&self, text: &str) {
        let n = self.step.fetch_add(1, Ordering::SeqCst) + 1;
        self.say(&format!("Step {n}/{} : {text}\n", self.total));
    }

    pub(super) fn now_rfc3339(&self) -> String {
        match self.epoch {
            Some(e) => crate::time::rfc3339(e),
            None => crate::time::now_rfc3339(),
        }
    }

    /// Build the needed stages (waves of stages whose dependencies are done, in parallel) and
    /// the target's image; returns its id.
    pub(super) fn solve(&self, target: usize, needed: &[usize]) -> Result<String> {
        let args = arg_env(self.opts);
        let mut done: BTreeMap<usize, State> = BTreeMap::new();
        let mut left: Vec<usize> = needed.to_vec();
        while !left.is_empty() {
            let ready: Vec<usize> = left
                .iter()
                .copied()
                .filter(|i| self.df.deps(*i, &args).iter().all(|d| done.contains_key(d)))
                .collect();
            if ready.is_empty() {
                return Err(Error::InvalidParameter(
                    "circular dependency between build stages".into(),
                ));
            }
            left.retain(|i| !ready.contains(i));
            let results: Vec<(usize, Result<State>)> = if ready.len() == 1 {
                vec![(ready[0], self.stage(ready[0], &done))]
            } else {
                std::thread::scope(|s| {
                    let hs: Vec<_> = ready
                        .iter()
                        .map(|i| {
                            let d = &done;
                            (*i, s.spawn(move || self.stage(*i, d)))
                        })
                        .collect();
                    hs.into_iter()
                        .map(|(i, h)| {
                            (
                                i,
                                h.join().unwrap_or_else(|_| {
                                    Err(Error::Internal("a build stage panicked".into()))
                                }),
                            )
                        })
                        .collect()
                })
            };
            for (i, r) in results {
                done.insert(i, r?);
            }
        }
        let st = done
            .remove(&target)
            .ok_or_else(|| Error::Internal("target stage not built".into()))?;
        self.finish(st)
    }

    /// The target's image: the stage's state with the build's labels, recorded (or the same
    /// image as last time, from the cache).
    fn finish(&self, mut st: State) -> Result<String> {
        let labels = serde_json::to_string(&self.opts.labels).unwrap_or_default();
        let key = cache::key(&st.key, &["final", &labels]);
        if let Some(id) = self.cached(&key) {
            return Ok(id);
        }
        if !self.opts.labels.is_empty() {
            let c = st.config_mut();
            let mut l = c.labels.clone().unwrap_or_default();
            l.extend(self.opts.labels.clone());
            c.labels = Some(l);
        }
        let id = self.record(&mut st)?;
        self.cache.put(&key, &id)?;
        Ok(id)
    }

    /// Record the state as an image; its id.
    pub(super) fn record(&self, st: &mut State) -> Result<String> {
        let images = &self.engine.images;
        st.cfg.created = Some(self.now_rfc3339());
        if st.cfg.architecture.is_empty() {
            st.cfg.architecture = berth_image::registry::Platform::host().arch;
            st.cfg.os = "linux".into();
        }
        st.cfg.rootfs.r#type = "layers".into();
        let bytes = serde_json::to_vec(&st.cfg).map_err(|e| Error::Internal(e.to_string()))?;
        let config = images.store().ingest_bytes(&bytes, None)?;
        let img = images.record_child(&config, &st.layers, &st.chains, st.image.as_deref())?;
        st.image = Some(img.id.clone());
        Ok(img.id)
    }

    fn state_of_image(&self, name: &str, key_of: &mut String) -> Result<State> {
        let images = &self.engine.images;
        let img = match images.resolve(name) {
            Ok(i) if !self.opts.pull => i,
            _ => {
                self.pull(name)?;
                images.resolve(name)?
            }
        };
        // The signature policy judges a base image as it judges a container's.
        self.engine
            .check_signature_policy(name, self.opts.content_trust)?;
        let cfg: ConfigFile = images.config_as(&img)?;
        *key_of = cache::key("", &["from", &img.id]);
        Ok(State {
            image: Some(img.id.clone()),
            layers: digests(&img.layers),
            chains: digests(&img.chain_ids),
            cfg,
            ..Default::default()
        })
    }

    pub(super) fn pull(&self, name: &str) -> Result<()> {
        let r = crate::images::reference(name)?;
        self.say(&format!("Pulling {r}\n"));
        let creds = berth_image::registry::Credentials::Anonymous;
        let e = self.engine;
        let platform = Some(self.opts.platform.as_str()).filter(|p| !p.is_empty());
        self.handle
            .block_on(e.image_pull(
                &r,
                platform,
                creds,
                self.opts.content_trust,
                &berth_image::registry::Quiet,
            ))
            .map(|_| ())
    }

    fn stage(&self, i: usize, done: &BTreeMap<usize, State>) -> Result<State> {
        let s = &self.df.stages[i];
        self.step_header(&s.text);
        let args = arg_env(self.opts);
        let base = self.df.base_of(i, &args).map_err(Error::InvalidParameter)?;
        let mut key = String::new();
        let mut st = match self.df.find(&base).filter(|j| *j < i) {
            Some(j) => {
                let mut st = done
                    .get(&j)
                    .cloned()
                    .ok_or_else(|| Error::Internal(format!("stage {j} not built")))?;
                st.args.clear();
                st.cmd_set = false;
                key = st.key.clone();
                st
            }
            None if base == "scratch" => {
                key = cache::key("", &["scratch"]);
                State::default()
            }
            None => self.state_of_image(&base, &mut key)?,
        };
        st.key = key;
        self.say(&format!(
            " ---> {}\n",
            st.image
                .as_deref()
                .map_or("scratch".into(), |i| short(i).to_owned())
        ));
        // ONBUILD triggers of the base run first.
        let triggers = st.config_mut().on_build.take().unwrap_or_default();
        for t in triggers {
            let p = berth_dockerfile::parser::parse(&t)
                .map_err(|e| Error::InvalidParameter(format!("ONBUILD {t}: {}", e.message)))?;
            for n in &p.nodes {
                let ins = Instruction::from_node(n)
                    .map_err(|e| Error::InvalidParameter(format!("ONBUILD {t}: {e}")))?;
                let step = Step {
                    instruction: ins,
                    line: s.line,
                    text: t.clone(),
                };
                self.dispatch(&mut st, &step, done)?;
            }
        }
        for step in &s.steps {
            self.step_header(&step.text);
            self.dispatch(&mut st, step, done)
                .map_err(|e| at_line(e, self.opts.file_name(), step.line))?;
        }
        Ok(st)
    }

    fn dispatch(&self, st: &mut State, step: &Step, done: &BTreeMap<usize, State>) -> Result<()> {
        let lex = Lex::new(self.df.escape);
        let vars = st.vars();
        let (ins, used) = step
            .instruction
            .expand(&lex, &vars)
            .map_err(Error::InvalidParameter)?;
        // The build args the instruction used are part of its key (not those it did not).
        let used: String = used
            .iter()
            .filter_map(|n| st.args.iter().rev().find(|(k, _)| k == n))
            .map(|(k, v)| format!("{k}={v}\0"))
            .collect();
        let shell = st.shell();
        let meta = |st: &mut State, what: String| {
            st.key = cache::key(&st.key, &["meta", &what, &used]);
            // A step seen before says so, as the classic builder's do: its entry names the
            // image it was taken on (which `--cache-from` may or may not allow).
            if self.cached(&st.key).is_some() {
                self.say(" ---> Using cache\n");
            } else if let Some(img) = &st.image {
                let _ = self.cache.put(&st.key, img);
            }
            st.cfg.history.push(ConfigHistory {
                created: self.now_rfc3339(),
                created_by: format!("{} # buildkit", step.text),
                comment: "buildkit.dockerfile.v0".into(),
                empty_layer: true,
                ..Default::default()
            });
        };
        match &ins {
            Instruction::Arg(defs) => {
                for d in defs {
                    if let Ok(mut decl) = self.declared.lock() {
                        decl.insert(d.name.clone());
                    }
                    let given = self.opts.build_args.get(&d.name).cloned().flatten();
                    let meta_default = self
                        .df
                        .meta_env(&arg_env(self.opts))
                        .into_iter()
                        .find(|(k, _)| *k == d.name)
                        .map(|(_, v)| v);
                    let v = match (given, &d.default) {
                        (Some(g), _) => Some(g),
                        (None, Some(def)) => {
                            Some(lex.word(def, &st.vars()).map_err(Error::InvalidParameter)?)
                        }
                        (None, None) => meta_default,
                    };
                    st.args.retain(|(k, _)| *k != d.name);
                    if let Some(v) = v {
                        st.args.push((d.name.clone(), v));
                    }
                }
                return Ok(());
            }
            Instruction::Env(pairs) => {
                let c = st.config_mut();
                let mut env = c.env.clone().unwrap_or_default();
                for (k, v) in pairs {
                    env.retain(|e| e.split('=').next() != Some(k.as_str()));
                    env.push(format!("{k}={v}"));
                }
                c.env = Some(env);
            }
            Instruction::Label(pairs) => {
                let c = st.config_mut();
                let mut l = c.labels.clone().unwrap_or_default();
                l.extend(pairs.iter().cloned());
                c.labels = Some(l);
            }
            Instruction::Maintainer(m) => st.cfg.author = Some(m.clone()),
            Instruction::Expose(ports) => {
                let c = st.config_mut();
                let mut e = c.exposed_ports.clone().unwrap_or_default();
                for p in ports {
                    let p = if p.contains('/') {
                        p.to_lowercase()
                    } else {
                        format!("{p}/tcp")
                    };
                    e.insert(p, Default::default());
                }
                c.exposed_ports = Some(e);
            }
            Instruction::Volume(vs) => {
                let c = st.config_mut();
                let mut v = c.volumes.clone().unwrap_or_default();
                for p in vs {
                    if p.is_empty() {
                        return Err(Error::InvalidParameter(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    v.insert(p.clone(), Default::default());
                }
                c.volumes = Some(v);
            }
            Instruction::User(u) => st.config_mut().user = u.clone(),
            Instruction::Workdir(d) => {
                let c = st.config_mut();
                let base = if c.working_dir.is_empty() {
                    "/".to_owned()
                } else {
                    c.working_dir.clone()
                };
                let joined = std::path::Path::new(&base).join(d);
                let clean: PathBuf = std::iter::once(std::ffi::OsString::from("/"))
                    .chain(berth_fs::clamp(&joined))
                    .collect();
                c.working_dir = clean.display().to_string();
            }
            Instruction::StopSignal(s) => {
                if crate::util::parse_signal(s).is_none() {
                    return Err(Error::InvalidParameter(format!("Invalid signal: {s}")));
                }
                st.config_mut().stop_signal = s.clone();
            }
            Instruction::Cmd(c) => {
                let a = argv(c, &shell);
                st.config_mut().cmd = Some(a);
                st.cmd_set = true;
            }
            Instruction::Entrypoint(c) => {
                let a = argv(c, &shell);
                let keep_cmd = st.cmd_set;
                let cfg = st.config_mut();
                cfg.entrypoint = Some(a);
                if !keep_cmd {
                    cfg.cmd = None;
                }
            }
            Instruction::Shell(s) => st.config_mut().shell = Some(s.clone()),
            Instruction::Healthcheck(h) => {
                let hc = health(h).map_err(Error::InvalidParameter)?;
                st.config_mut().healthcheck = Some(hc);
            }
            Instruction::Onbuild(t) => {
                let c = st.config_mut();
                let mut o = c.on_build.clone().unwrap_or_default();
                o.push(t.clone());
                c.on_build = Some(o);
            }
            Instruction::From { .. } => {}
            Instruction::Run(r) => return self.run_step(st, r, &shell, done),
            Instruction::Copy(c) => return self.copy_step(st, c, step, done, &used),
        }
        meta(st, format!("{ins:?}"));
        Ok(())
    }

    /// A layer step: from the cache, or `make` fills an upper directory whose diff becomes
    /// the layer; either way the state moves on to the step's image.
    pub(super) fn layer_step(
        &self,
        st: &mut State,
        key: String,
        created_by: String,
        make: impl FnOnce(&mut State) -> Result<PathBuf>,
    ) -> Result<()> {
        let images = &self.engine.images;
        {
            if let Some(id) = self.cached(&key) {
                let img = images.resolve(&id)?;
                let args = std::mem::take(&mut st.args);
                let cmd_set = st.cmd_set;
                *st = State {
                    image: Some(img.id.clone()),
                    cfg: images.config_as(&img)?,
                    layers: digests(&img.layers),
                    chains: digests(&img.chain_ids),
                    key,
                    args,
                    cmd_set,
                };
                self.say(&format!(" ---> Using cache\n ---> {}\n", short(&img.id)));
                return Ok(());
            }
        }
        let upper = make(st)?;
        let blob = crate::layer::write_layer(images, &upper, self.epoch)?;
        st.cfg.rootfs.diff_ids.push(blob.to_string());
        let chains = berth_image::snapshot::chain_ids(&digests(&st.cfg.rootfs.diff_ids));
        let top = chains
            .last()
            .cloned()
            .ok_or_else(|| Error::Internal("no chain".into()))?;
        adopt_or_unpack(images, &top, &upper, &blob)?;
        st.layers.push(blob);
        st.chains = chains;
        st.cfg.history.push(ConfigHistory {
            created: self.now_rfc3339(),
            created_by,
            comment: "buildkit.dockerfile.v0".into(),
            ..Default::default()
        });
        let id = self.record(st)?;
        self.cache.put(&key, &id)?;
        st.key = key;
        self.say(&format!(" ---> {}\n", short(&id)));
        Ok(())
    }

    /// The cache's image for `key`, if this build may use it: not with `--no-cache`; with
    /// `--cache-from`, only images those images were built from (the classic builder's
    /// rule: the given images are then the only cache sources).
    fn cached(&self, key: &str) -> Option<String> {
        if self.opts.no_cache {
            return None;
        }
        let id = self.cache.get(&self.engine.images, key)?;
        match &self.cache_sources {
            Some(allowed) if !allowed.contains(&id) => None,
            _ => Some(id),
        }
    }

    /// `--cache-from IMAGE…`: the images and every image they were built from (their
    /// `Parent` chains) are the cache sources; missing ones are pulled if they can be.
    pub(super) fn cache_sources(&self) -> std::collections::HashSet<String> {
        let images = &self.engine.images;
        let mut allowed = std::collections::HashSet::new();
        for name in &self.opts.cache_from {
            if images.resolve(name).is_err() && self.pull(name).is_err() {
                continue;
            }
            let mut cur = images.resolve(name).ok();
            while let Some(img) = cur {
                if !allowed.insert(img.id.clone()) {
                    break;
                }
                cur = img.parent.as_deref().and_then(|p| images.resolve(p).ok());
            }
        }
        allowed
    }
}

/// Move the step's upper directory into place as the layer's unpacked form (same filesystem)
/// or unpack the blob when it cannot be moved.
fn adopt_or_unpack(
    images: &berth_image::images::Images,
    chain: &Digest,
    upper: &std::path::Path,
    blob: &Digest,
) -> Result<()> {
    let layers = images.layers();
    if layers.has(chain) {
        return Ok(());
    }
    let dest = layers.path(chain);
    if std::fs::rename(upper, &dest).is_ok() {
        let _ = std::fs::write(
            dest.with_file_name(format!("{}.size", chain.hex())),
            berth_image::snapshot::du(&dest).to_string(),
        );
        return Ok(());
    }
    layers.ensure(chain, &images.store().path(blob), Some(blob))?;
    Ok(())
}

/// Digests of an image's records (`sha256:…` strings).
pub(crate) fn digests(v: &[String]) -> Vec<Digest> {
    v.iter().filter_map(|d| Digest::parse(d).ok()).collect()
}

pub(super) fn short(id: &str) -> &str {
    let h = id.trim_start_matches("sha256:");
    &h[..12.min(h.len())]
}

fn at_line(e: Error, file: &str, line: usize) -> Error {
    match e {
        Error::InvalidParameter(m) if !m.starts_with(file) => {
            Error::InvalidParameter(format!("{file}:{line}: {m}"))
        }
        other => other,
    }
}
