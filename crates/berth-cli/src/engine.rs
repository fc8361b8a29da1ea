//! The engine side of the image commands, answering in the Docker Engine API's JSON shapes
//! (ImageSummary, ImageInspect, HistoryResponseItem). The CLI formats only these shapes, so when
//! the daemon arrives (issue 4) these functions become its handlers and the CLI reads the same
//! JSON from the socket instead.

use berth_image::images::{Image, Images};
use berth_image::reference::Reference;
use serde_json::{Value, json};

use crate::units::parse_rfc3339;

/// Where images live by default (`--data-root`).
pub const DEFAULT_ROOT: &str = "/var/lib/berth";

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
pub fn reference(s: &str) -> anyhow::Result<Reference> {
    Reference::parse(s).map_err(|e| anyhow::anyhow!("{e}"))
}
