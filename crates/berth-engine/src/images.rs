//! Images, answering in the Engine API's JSON shapes (ImageSummary, ImageInspect,
//! HistoryResponseItem, ImageDeleteResponseItem, …).

use std::io::{Read, Write};

use berth_image::images::{Image, Images};
use berth_image::reference::Reference;
use berth_image::registry::{self, Platform};
use berth_models::Filters;
use berth_models::container::GraphDriver;
use berth_models::image::{
    ConfigFile, DeleteItem, HistoryItem, Inspect, Metadata, PruneResponse, RootFs, Summary,
};

pub use berth_image::archive::SaveFormat;
pub use berth_image::reference::Reference as ImageReference;
pub use berth_image::registry::{Credentials, Progress};

use crate::containers::ZERO_TIME;
use crate::time::parse_rfc3339;
use crate::{Engine, Error, Result};

/// The filter keys of `GET /images/json`.
pub const FILTER_KEYS: [&str; 5] = ["dangling", "label", "reference", "before", "since"];

/// Familiar names (`busybox:latest`) of an image's tags, sorted.
pub fn repo_tags(img: &Image) -> Vec<String> {
    let mut t = img.tags.clone();
    t.sort();
    t
}

fn config_of(images: &Images, img: &Image) -> ConfigFile {
    images.config_as(img).unwrap_or_default()
}

fn created_of(cfg: &ConfigFile) -> i64 {
    cfg.created.as_deref().and_then(parse_rfc3339).unwrap_or(0)
}

/// `GET /images/json` entry.
pub fn summary(images: &Images, img: &Image) -> Summary {
    let cfg = config_of(images, img);
    Summary {
        containers: -1,
        created: created_of(&cfg),
        id: img.id.clone(),
        labels: cfg.config.and_then(|c| c.labels),
        parent_id: img.parent.clone().unwrap_or_default(),
        repo_digests: img.repo_digests.clone(),
        repo_tags: repo_tags(img),
        shared_size: -1,
        size: img.size as i64,
        virtual_size: None,
    }
}

/// `GET /images/{name}/json`.
pub fn inspect(images: &Images, img: &Image) -> Inspect {
    let cfg = config_of(images, img);
    let lower: Vec<String> = img
        .chain_ids
        .iter()
        .rev()
        .filter_map(|c| berth_image::Digest::parse(c).ok())
        .map(|c| images.layers().path(&c).display().to_string())
        .collect();
    let comment = cfg
        .history
        .last()
        .map(|h| h.comment.clone())
        .unwrap_or_default();
    let mut data = berth_models::Map::new();
    data.insert("LowerDir".into(), lower.join(":"));
    Inspect {
        id: img.id.clone(),
        repo_tags: repo_tags(img),
        repo_digests: img.repo_digests.clone(),
        parent: img.parent.clone().unwrap_or_default(),
        comment,
        created: cfg.created.clone().unwrap_or_else(|| ZERO_TIME.to_owned()),
        docker_version: cfg.docker_version.clone().unwrap_or_default(),
        author: cfg.author.clone().unwrap_or_default(),
        config: cfg.config.clone().unwrap_or_default(),
        architecture: cfg.architecture.clone(),
        variant: cfg.variant.clone().unwrap_or_default(),
        os: cfg.os.clone(),
        size: img.size as i64,
        virtual_size: None,
        container: None,
        container_config: None,
        graph_driver: GraphDriver {
            data,
            name: "overlay".into(),
        },
        root_fs: RootFs {
            r#type: "layers".into(),
            layers: cfg.rootfs.diff_ids.clone(),
        },
        metadata: Metadata {
            last_tag_time: ZERO_TIME.into(),
        },
    }
}

/// `GET /images/{name}/history`: newest first.
pub fn history(images: &Images, img: &Image) -> Vec<HistoryItem> {
    let cfg = config_of(images, img);
    let sizes: Vec<u64> = img
        .chain_ids
        .iter()
        .filter_map(|c| berth_image::Digest::parse(c).ok())
        .map(|c| images.layers().size(&c))
        .collect();
    let mut out = Vec::new();
    let mut layer = 0;
    if cfg.history.is_empty() {
        for s in &sizes {
            out.push(HistoryItem {
                id: "<missing>".into(),
                created: created_of(&cfg),
                size: *s as i64,
                ..Default::default()
            });
        }
    }
    for h in &cfg.history {
        let size = if h.empty_layer {
            0
        } else {
            layer += 1;
            sizes.get(layer - 1).copied().unwrap_or(0)
        };
        out.push(HistoryItem {
            id: "<missing>".into(),
            created: parse_rfc3339(&h.created).unwrap_or(0),
            created_by: h.created_by.clone(),
            tags: None,
            size: size as i64,
            comment: h.comment.clone(),
        });
    }
    out.reverse();
    if let Some(top) = out.first_mut() {
        top.id = img.id.clone();
        let tags = repo_tags(img);
        top.tags = (!tags.is_empty()).then_some(tags);
    }
    out
}

/// Parse a user's image reference as Docker does, with its error text.
pub fn reference(s: &str) -> Result<Reference> {
    Reference::parse(s).map_err(|e| Error::InvalidParameter(e.to_string()))
}

/// Docker's glob (`path.Match`): `*`, `?`, `[…]`, not crossing `/`.
pub fn glob(pat: &str, s: &str) -> bool {
    berth_dockerfile::shell::path_match(pat, s)
}

fn delete_items(r: berth_image::images::Removed) -> Vec<DeleteItem> {
    r.untagged
        .into_iter()
        .map(DeleteItem::Untagged)
        .chain(r.deleted.into_iter().map(DeleteItem::Deleted))
        .collect()
}

/// Untagged images a build made (they have a parent and were not committed) or others were
/// made from: intermediate, not dangling. An untagged committed image is dangling, as
/// dockerd's.
fn intermediates(list: &[Image]) -> std::collections::HashSet<String> {
    let parents: std::collections::HashSet<&str> =
        list.iter().filter_map(|i| i.parent.as_deref()).collect();
    list.iter()
        .filter(|i| {
            i.tags.is_empty()
                && ((i.parent.is_some() && !i.committed) || parents.contains(i.id.as_str()))
        })
        .map(|i| i.id.clone())
        .collect()
}

pub(crate) fn name_attr(name: String) -> berth_models::Map {
    [("name".to_owned(), name)].into()
}

impl Engine {
    fn created_of(&self, name: &str) -> Result<i64> {
        let img = self.images.resolve(name)?;
        Ok(summary(&self.images, &img).created)
    }

    /// `GET /images/json`: summaries, newest first, filtered like dockerd (`dangling`, `label`,
    /// `reference`, `before`, `since`).
    /// Build steps' untagged results (images with a parent, or parents of others) are
    /// intermediate: shown only with `all`, never dangling.
    pub fn image_list(&self, f: &Filters, all: bool) -> Result<Vec<Summary>> {
        f.check(&FILTER_KEYS)?;
        for v in f.get("dangling") {
            if !["true", "false", "1", "0"].contains(&v.to_lowercase().as_str()) {
                return Err(Error::InvalidParameter(format!(
                    "invalid filter 'dangling={v}'"
                )));
            }
        }
        let before: Vec<i64> = f
            .get("before")
            .iter()
            .map(|v| self.created_of(v))
            .collect::<Result<_>>()?;
        let since: Vec<i64> = f
            .get("since")
            .iter()
            .map(|v| self.created_of(v))
            .collect::<Result<_>>()?;
        let refs = f.get("reference");
        let mut out = Vec::new();
        let list = self.images.list()?;
        let intermediate = intermediates(&list);
        for img in list {
            if intermediate.contains(&img.id) && !all {
                continue;
            }
            let mut s = summary(&self.images, &img);
            let dangling = img.tags.is_empty() && !intermediate.contains(&img.id);
            let keep = f
                .get("dangling")
                .iter()
                .all(|v| matches!(v.to_lowercase().as_str(), "true" | "1") == dangling)
                && f.get("label")
                    .iter()
                    .all(|v| berth_models::filters::label_matches(s.labels.as_ref(), v))
                && before.iter().all(|b| s.created < *b)
                && since.iter().all(|b| s.created > *b);
            if !keep {
                continue;
            }
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
                s.repo_tags = names;
            }
            out.push(s);
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    pub fn image_inspect(&self, name: &str) -> Result<Inspect> {
        let img = self.images.resolve(name).map_err(|_| no_such(name))?;
        Ok(inspect(&self.images, &img))
    }

    /// The image's bill of materials: its unpacked layers merged (whiteouts respected) and
    /// catalogued, each package attributed to its layer's diff id.
    pub fn image_sbom(&self, name: &str) -> Result<berth_sbom::Sbom> {
        let img = self.images.resolve(name).map_err(|_| no_such(name))?;
        let cfg = config_of(&self.images, &img);
        let mut view = berth_sbom::view::View::default();
        for (i, chain) in img.chain_ids.iter().enumerate() {
            let d = berth_image::Digest::parse(chain)
                .map_err(|e| Error::Internal(format!("image {name}: layer {chain}: {e}")))?;
            let id = cfg
                .rootfs
                .diff_ids
                .get(i)
                .cloned()
                .unwrap_or_else(|| chain.clone());
            view.add_dir_layer(&self.images.layers().path(&d), &id)
                .map_err(|e| Error::Internal(format!("image {name}: {e}")))?;
        }
        Ok(berth_sbom::catalog(&view, name))
    }

    pub fn image_history(&self, name: &str) -> Result<Vec<HistoryItem>> {
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
            .emit("image", "tag", &img.id, name_attr(r.to_string()));
        Ok(())
    }

    /// `DELETE /images/{name}?force=`: Docker's list of `{"Untagged": …}` / `{"Deleted": …}`.
    pub fn image_remove(&self, name: &str, force: bool) -> Result<Vec<DeleteItem>> {
        if self.images.resolve(name).is_err() {
            return Err(no_such(name));
        }
        let used = |img: &str| self.containers.user_of(img);
        let r = self.images.remove(name, force, &used)?;
        if !crate::build::running() {
            self.images.gc()?;
        }
        Ok(delete_items(r))
    }

    /// `POST /images/prune`: dangling images (all unused with `dangling=false`).
    pub fn image_prune(&self, f: &Filters) -> Result<PruneResponse> {
        let all = f
            .get("dangling")
            .iter()
            .any(|v| matches!(v.as_str(), "false" | "0"));
        let mut deleted = Vec::new();
        let list = self.images.list()?;
        let intermediate = intermediates(&list);
        for img in list {
            if !all && (!img.tags.is_empty() || intermediate.contains(&img.id)) {
                continue;
            }
            if self.containers.user_of(&img.id).is_some() {
                continue;
            }
            let s = summary(&self.images, &img);
            if !f
                .get("label")
                .iter()
                .all(|v| berth_models::filters::label_matches(s.labels.as_ref(), v))
            {
                continue;
            }
            let r = self.images.remove(&img.id, true, &|_| None)?;
            deleted.extend(delete_items(r));
        }
        let freed = if crate::build::running() {
            0
        } else {
            self.images.gc()?
        };
        Ok(PruneResponse {
            images_deleted: (!deleted.is_empty()).then_some(deleted),
            space_reclaimed: freed,
        })
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
                name_attr(img.tags.first().cloned().unwrap_or_default()),
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
            // By name: that name in RepoTags; by id: none (as dockerd's save: a load of it
            // gives the image untagged).
            let tags: Vec<Reference> = match Reference::parse(name) {
                Ok(r) if img.tags.contains(&r.to_string()) => vec![r],
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
            name_attr(img.tags.first().cloned().unwrap_or_default()),
        );
        Ok(img.id)
    }

    /// `POST /images/create?fromImage=`: pull, reporting through `progress`; returns the
    /// `Digest:`/`Status:` lines. The signature policy (and, with `require_signed`, content
    /// trust) decides on the manifest before anything is stored.
    pub async fn image_pull(
        &self,
        r: &Reference,
        platform: Option<&str>,
        credentials: Credentials,
        require_signed: bool,
        progress: &dyn Progress,
    ) -> Result<Vec<String>> {
        let platform = platform
            .filter(|p| !p.is_empty())
            .map(Platform::parse)
            .transpose()?;
        let opts = registry::PullOptions {
            platform,
            credentials,
            settings: (*self.live.registry()).clone(),
            check: self.pull_signature_check(require_signed)?,
        };
        let pulled = registry::pull(&self.images, r, &opts, progress).await;
        self.counters.pulled(pulled.is_ok());
        let pulled = pulled?;
        self.events
            .emit("image", "pull", &r.to_string(), name_attr(r.to_string()));
        let mut lines = vec![
            format!("Digest: {}", pulled.digest),
            format!(
                "Status: {} for {r}",
                if pulled.new {
                    "Downloaded newer image"
                } else {
                    "Image is up to date"
                }
            ),
        ];
        if let Some(line) = self.scan_on_pull(&r.to_string()) {
            lines.push(line);
        }
        Ok(lines)
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
            settings: (*self.live.registry()).clone(),
        };
        let pushed = registry::push(&self.images, r, &opts, progress).await?;
        self.events
            .emit("image", "push", &r.to_string(), name_attr(r.to_string()));
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
        registry::check_login(&self.live.registry(), host, user, password)
            .await
            .map_err(|e| Error::Unauthorized(e.to_string()))
    }
}

/// dockerd names the missing image as a normalised reference (`nope:latest`) when it is one.
fn no_such(name: &str) -> Error {
    crate::containers::create::no_such_image(name)
}
