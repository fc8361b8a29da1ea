//! Images, answering in the Engine API's JSON shapes (ImageSummary, ImageInspect,
//! HistoryResponseItem, ImageDeleteResponseItem, …).

use std::io::{Read, Write};

use berth_image::archive::SaveFormat;
use berth_image::images::{Image, Images};
use berth_image::reference::Reference;
use berth_image::registry::{self, Credentials, Platform, Progress};
use serde_json::{Value, json};

use crate::time::parse_rfc3339;
use crate::{Engine, Error, Result};

/// Familiar names (`busybox:latest`) of an image's tags, sorted.
pub fn repo_tags(img: &Image) -> Vec<String> {
    let mut t = img.tags.clone();
    t.sort();
    t
}

fn created_of(cfg: &Value) -> i64 {
    cfg["created"].as_str().and_then(parse_rfc3339).unwrap_or(0)
}

/// `GET /images/json` entry.
pub fn summary(images: &Images, img: &Image) -> Value {
    let cfg = images.config(img).unwrap_or(Value::Null);
    let labels = cfg["config"]["Labels"].clone();
    json!({
        "Containers": -1,
        "Created": created_of(&cfg),
        "Id": img.id,
        "Labels": if labels.is_object() { labels } else { Value::Null },
        "ParentId": "",
        "RepoDigests": img.repo_digests,
        "RepoTags": repo_tags(img),
        "SharedSize": -1,
        "Size": img.size,
    })
}

/// The container-config keys Docker always shows, with its empty values.
fn full_config(c: &Value) -> Value {
    let mut out = json!({
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "AttachStdout": false,
        "AttachStderr": false, "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null, "WorkingDir": "",
        "Entrypoint": null, "OnBuild": null, "Labels": null,
    });
    if let (Some(o), Some(src)) = (out.as_object_mut(), c.as_object()) {
        for (k, v) in src {
            o.insert(k.clone(), v.clone());
        }
    }
    out
}

/// `GET /images/{name}/json`.
pub fn inspect(images: &Images, img: &Image) -> Value {
    let cfg = images.config(img).unwrap_or(Value::Null);
    let lower: Vec<String> = img
        .chain_ids
        .iter()
        .rev()
        .filter_map(|c| berth_image::Digest::parse(c).ok())
        .map(|c| images.layers().path(&c).display().to_string())
        .collect();
    let comment = cfg["history"]
        .as_array()
        .and_then(|h| h.last())
        .and_then(|h| h["comment"].as_str())
        .unwrap_or_default();
    let mut v = json!({
        "Id": img.id,
        "RepoTags": repo_tags(img),
        "RepoDigests": img.repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": cfg["created"].as_str().unwrap_or("0001-01-01T00:00:00Z"),
        "DockerVersion": cfg["docker_version"].as_str().unwrap_or_default(),
        "Author": cfg["author"].as_str().unwrap_or_default(),
        "Config": full_config(&cfg["config"]),
        "Architecture": cfg["architecture"].as_str().unwrap_or_default(),
        "Os": cfg["os"].as_str().unwrap_or_default(),
        "Size": img.size,
        "GraphDriver": {"Data": {"LowerDir": lower.join(":")}, "Name": "overlay"},
        "RootFS": {"Type": "layers", "Layers": cfg["rootfs"]["diff_ids"].clone()},
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    });
    if let Some(var) = cfg["variant"].as_str() {
        v["Variant"] = Value::from(var);
    }
    v
}

/// `GET /images/{name}/history`: newest first.
pub fn history(images: &Images, img: &Image) -> Vec<Value> {
    let cfg = images.config(img).unwrap_or(Value::Null);
    let sizes: Vec<u64> = img
        .chain_ids
        .iter()
        .filter_map(|c| berth_image::Digest::parse(c).ok())
        .map(|c| images.layers().size(&c))
        .collect();
    let mut out = Vec::new();
    let mut layer = 0;
    match cfg["history"].as_array().filter(|h| !h.is_empty()) {
        Some(hist) => {
            for h in hist {
                let empty = h["empty_layer"].as_bool().unwrap_or(false);
                let size = if empty {
                    0
                } else {
                    layer += 1;
                    sizes.get(layer - 1).copied().unwrap_or(0)
                };
                out.push(json!({
                    "Id": "<missing>",
                    "Created": h["created"].as_str().and_then(parse_rfc3339).unwrap_or(0),
                    "CreatedBy": h["created_by"].as_str().unwrap_or_default(),
                    "Tags": null,
                    "Size": size,
                    "Comment": h["comment"].as_str().unwrap_or_default(),
                }));
            }
        }
        None => {
            for s in &sizes {
                out.push(json!({
                    "Id": "<missing>", "Created": created_of(&cfg), "CreatedBy": "",
                    "Tags": null, "Size": s, "Comment": "",
                }));
            }
        }
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top["Id"] = Value::from(img.id.clone());
        let tags = repo_tags(img);
        top["Tags"] = if tags.is_empty() {
            Value::Null
        } else {
            Value::from(tags)
        };
    }
    out
}

/// Parse a user's image reference as Docker does, with its error text.
pub fn reference(s: &str) -> Result<Reference> {
    Reference::parse(s).map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// Docker's `filters` parameter: `{"name": ["value", …]}` (older clients send
/// `{"name": {"value": true}}`).
pub fn parse_filters(raw: Option<&str>) -> Result<Vec<(String, String)>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let v: Value = serde_json::from_str(raw)
        .map_err(|e| Error::InvalidParameter(format!("invalid filter: {e}")))?;
    let mut out = Vec::new();
    for (k, vals) in v.as_object().into_iter().flatten() {
        match vals {
            Value::Array(a) => {
                for x in a {
                    out.push((k.clone(), x.as_str().unwrap_or_default().to_owned()));
                }
            }
            Value::Object(o) => {
                for (x, on) in o {
                    if on.as_bool() == Some(true) {
                        out.push((k.clone(), x.clone()));
                    }
                }
            }
            _ => return Err(Error::InvalidParameter(format!("invalid filter '{k}'"))),
        }
    }
    Ok(out)
}

/// Docker's glob (`path.Match`): `*`, `?`, `[…]`, not crossing `/`.
pub fn glob(pat: &str, s: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some('*'), _) => m(&p[1..], s) || (!s.is_empty() && s[0] != '/' && m(p, &s[1..])),
            (Some('?'), Some(c)) if *c != '/' => m(&p[1..], &s[1..]),
            (Some('['), Some(c)) => {
                let Some(end) = p.iter().position(|x| *x == ']') else {
                    return false;
                };
                let set = &p[1..end];
                let (neg, set) = match set.first() {
                    Some('^') | Some('!') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit != neg && m(&p[end + 1..], &s[1..])
            }
            (Some(a), Some(b)) if a == b => m(&p[1..], &s[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pat.chars().collect();
    let s: Vec<char> = s.chars().collect();
    m(&p, &s)
}

fn label_match(summary: &Value, want: &str) -> bool {
    let (k, v) = match want.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (want, None),
    };
    match &summary["Labels"][k] {
        Value::String(x) => v.is_none_or(|v| v == x),
        _ => false,
    }
}

impl Engine {
    fn created_of(&self, name: &str) -> Result<i64> {
        let img = self.images.resolve(name)?;
        Ok(summary(&self.images, &img)["Created"].as_i64().unwrap_or(0))
    }

    /// `GET /images/json`: summaries, newest first, filtered like dockerd (`dangling`, `label`,
    /// `reference`, `before`, `since`).
    pub fn image_list(&self, filters: &[(String, String)]) -> Result<Vec<Value>> {
        let mut before = None;
        let mut since = None;
        for (k, v) in filters {
            match k.as_str() {
                "dangling" => {
                    if !["true", "false", "1", "0"].contains(&v.to_lowercase().as_str()) {
                        return Err(Error::InvalidParameter(format!(
                            "invalid filter 'dangling={v}'"
                        )));
                    }
                }
                "label" | "reference" => {}
                "before" => before = Some(self.created_of(v)?),
                "since" => since = Some(self.created_of(v)?),
                other => {
                    return Err(Error::InvalidParameter(format!("invalid filter '{other}'")));
                }
            }
        }
        let mut out = Vec::new();
        for img in self.images.list()? {
            let mut s = summary(&self.images, &img);
            let created = s["Created"].as_i64().unwrap_or(0);
            let dangling = img.tags.is_empty();
            let keep = filters.iter().all(|(k, v)| match k.as_str() {
                "dangling" => matches!(v.to_lowercase().as_str(), "true" | "1") == dangling,
                "label" => label_match(&s, v),
                _ => true,
            }) && before.is_none_or(|b| created < b)
                && since.is_none_or(|b| created > b);
            if !keep {
                continue;
            }
            let refs: Vec<&String> = filters
                .iter()
                .filter(|(k, _)| k == "reference")
                .map(|(_, v)| v)
                .collect();
            if !refs.is_empty() {
                let names: Vec<String> = repo_tags(&img)
                    .into_iter()
                    .filter(|t| {
                        let repo = t.rsplit_once(':').map_or(t.as_str(), |x| x.0);
                        refs.iter().any(|p| glob(p, t) || glob(p, repo))
                    })
                    .collect();
                if names.is_empty() {
                    continue;
                }
                s["RepoTags"] = Value::from(names);
            }
            out.push(s);
        }
        out.sort_by(|a, b| {
            b["Created"]
                .as_i64()
                .cmp(&a["Created"].as_i64())
                .then(a["Id"].as_str().cmp(&b["Id"].as_str()))
        });
        Ok(out)
    }

    pub fn image_inspect(&self, name: &str) -> Result<Value> {
        let img = self.images.resolve(name).map_err(|_| no_such(name))?;
        Ok(inspect(&self.images, &img))
    }

    pub fn image_history(&self, name: &str) -> Result<Vec<Value>> {
        let img = self.images.resolve(name).map_err(|_| no_such(name))?;
        Ok(history(&self.images, &img))
    }

    /// `POST /images/{name}/tag?repo=&tag=`
    pub fn image_tag(&self, name: &str, repo: &str, tag: Option<&str>) -> Result<()> {
        let target = match tag.filter(|t| !t.is_empty()) {
            Some(t) => format!("{repo}:{t}"),
            None => repo.to_owned(),
        };
        let r = reference(&target)?;
        self.images.resolve(name).map_err(|_| no_such(name))?;
        let img = self.images.tag(name, &r)?;
        self.events
            .emit("image", "tag", &img.id, json!({"name": r.to_string()}));
        Ok(())
    }

    /// `DELETE /images/{name}?force=`: Docker's list of `{"Untagged": …}` / `{"Deleted": …}`.
    pub fn image_remove(
        &self,
        name: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Value>> {
        if self.images.resolve(name).is_err() {
            return Err(no_such(name));
        }
        let r = self.images.remove(name, force, in_use)?;
        self.images.gc()?;
        let mut out: Vec<Value> = r
            .untagged
            .into_iter()
            .map(|u| json!({"Untagged": u}))
            .collect();
        out.extend(r.deleted.into_iter().map(|d| json!({"Deleted": d})));
        Ok(out)
    }

    /// `POST /images/prune`: dangling images (all unused with `dangling=false`).
    pub fn image_prune(&self, filters: &[(String, String)]) -> Result<Value> {
        let all = filters
            .iter()
            .any(|(k, v)| k == "dangling" && matches!(v.as_str(), "false" | "0"));
        let mut deleted = Vec::new();
        for img in self.images.list()? {
            if !all && !img.tags.is_empty() {
                continue;
            }
            let s = summary(&self.images, &img);
            if !filters
                .iter()
                .filter(|(k, _)| k == "label")
                .all(|(_, v)| label_match(&s, v))
            {
                continue;
            }
            let r = self.images.remove(&img.id, true, &|_| None)?;
            deleted.extend(r.untagged.into_iter().map(|u| json!({"Untagged": u})));
            deleted.extend(r.deleted.into_iter().map(|d| json!({"Deleted": d})));
        }
        let freed = self.images.gc()?;
        Ok(json!({
            "ImagesDeleted": if deleted.is_empty() { Value::Null } else { Value::from(deleted) },
            "SpaceReclaimed": freed,
        }))
    }

    /// `POST /images/load`: the lines docker prints.
    pub fn image_load(&self, r: impl Read) -> Result<Vec<String>> {
        let loaded = berth_image::archive::load(&self.images, r)?;
        let mut out = Vec::new();
        for img in loaded {
            self.events.emit(
                "image",
                "load",
                &img.id,
                json!({"name": img.tags.first().cloned().unwrap_or_default()}),
            );
            if img.tags.is_empty() {
                out.push(format!("Loaded image ID: {}", img.id));
            }
            for t in &img.tags {
                out.push(format!("Loaded image: {t}"));
            }
        }
        Ok(out)
    }

    /// `GET /images/get?names=…`: named by a tag → that tag; by id → all of its tags.
    pub fn image_save(&self, names: &[String], format: SaveFormat, out: impl Write) -> Result<()> {
        let mut items: Vec<(Image, Vec<Reference>)> = Vec::new();
        for name in names {
            let img = self.images.resolve(name).map_err(|_| no_such(name))?;
            let tags: Vec<Reference> = match Reference::parse(name) {
                Ok(r) if img.tags.contains(&r.to_string()) => vec![r],
                _ if name.starts_with("sha256:")
                    || img
                        .id
                        .trim_start_matches("sha256:")
                        .starts_with(name.as_str()) =>
                {
                    img.tags
                        .iter()
                        .filter_map(|t| Reference::parse(t).ok())
                        .collect()
                }
                _ => Vec::new(),
            };
            match items.iter_mut().find(|(i, _)| i.id == img.id) {
                Some((_, t)) => t.extend(tags),
                None => items.push((img, tags)),
            }
        }
        berth_image::archive::save(&self.images, &items, format, out)?;
        Ok(())
    }

    /// `POST /images/create?fromSrc=-`: returns the new image id.
    pub fn image_import(
        &self,
        r: impl Read,
        target: Option<&str>,
        changes: &[String],
        message: &str,
        source: &str,
        platform: Option<&str>,
    ) -> Result<String> {
        let tag = target
            .filter(|t| !t.is_empty())
            .map(reference)
            .transpose()?;
        let platform = match platform.filter(|p| !p.is_empty()) {
            Some(p) => Platform::parse(p)?,
            None => Platform::host(),
        };
        let comment = if message.is_empty() {
            format!("Imported from {source}")
        } else {
            message.to_owned()
        };
        let img = berth_image::archive::import(
            &self.images,
            r,
            tag.as_ref(),
            changes,
            &comment,
            (&platform.os, &platform.arch),
            &crate::time::now_rfc3339(),
        )?;
        self.events.emit(
            "image",
            "import",
            &img.id,
            json!({"name": img.tags.first().cloned().unwrap_or_default()}),
        );
        Ok(img.id)
    }

    /// `POST /images/create?fromImage=`: pull, reporting through `progress`; returns the
    /// `Digest:`/`Status:` lines.
    pub async fn image_pull(
        &self,
        r: &Reference,
        platform: Option<&str>,
        credentials: Credentials,
        progress: &dyn Progress,
    ) -> Result<Vec<String>> {
        let platform = platform
            .filter(|p| !p.is_empty())
            .map(Platform::parse)
            .transpose()?;
        let opts = registry::PullOptions {
            platform,
            credentials,
            settings: self.config.registry.clone(),
        };
        let pulled = registry::pull(&self.images, r, &opts, progress).await?;
        self.events.emit(
            "image",
            "pull",
            &r.to_string(),
            json!({"name": r.to_string()}),
        );
        Ok(vec![
            format!("Digest: {}", pulled.digest),
            format!(
                "Status: {} for {r}",
                if pulled.new {
                    "Downloaded newer image"
                } else {
                    "Image is up to date"
                }
            ),
        ])
    }

    /// `POST /images/{name}/push`: returns (tag, digest, size).
    pub async fn image_push(
        &self,
        r: &Reference,
        credentials: Credentials,
        progress: &dyn Progress,
    ) -> Result<(String, String, usize)> {
        if self.images.resolve(&r.to_string()).is_err() {
            return Err(Error::NotFound(format!(
                "An image does not exist locally with the tag: {}",
                r.familiar_name()
            )));
        }
        let opts = registry::PushOptions {
            credentials,
            settings: self.config.registry.clone(),
        };
        let pushed = registry::push(&self.images, r, &opts, progress).await?;
        self.events.emit(
            "image",
            "push",
            &r.to_string(),
            json!({"name": r.to_string()}),
        );
        Ok((
            r.tag.clone().unwrap_or_default(),
            pushed.digest.to_string(),
            pushed.size,
        ))
    }

    /// `POST /auth`
    pub async fn auth(&self, server: &str, user: &str, password: &str) -> Result<()> {
        let host = server
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .split('/')
            .next()
            .filter(|h| !h.is_empty() && *h != "index.docker.io")
            .unwrap_or("docker.io");
        registry::check_login(&self.config.registry, host, user, password)
            .await
            .map_err(|e| Error::Unauthorized(e.to_string()))
    }
}

/// dockerd names the missing image as a normalised reference (`nope:latest`) when it is one.
fn no_such(name: &str) -> Error {
    let shown = match Reference::parse(name) {
        Ok(r) if !name.contains('@') => r.to_string(),
        _ => name.to_owned(),
    };
    Error::NotFound(format!("No such image: {shown}"))
}
