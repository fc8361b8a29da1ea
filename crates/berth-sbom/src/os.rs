//! The image's distribution, from `/etc/os-release` (or `/usr/lib/os-release`): the purls'
//! `distro` qualifier (`debian-12`, `alpine-3.19`) and the scanner's release.

use serde::{Deserialize, Serialize};

use crate::view::View;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Distro {
    pub id: String,
    pub version_id: String,
    pub pretty_name: String,
    pub version_codename: String,
}

impl Distro {
    /// `debian-12`, as purls carry it.
    pub fn qualifier(&self) -> String {
        if self.version_id.is_empty() {
            self.id.clone()
        } else {
            format!("{}-{}", self.id, self.version_id)
        }
    }
}

pub fn distro(v: &View) -> Option<Distro> {
    let text = v
        .read("etc/os-release")
        .or_else(|| v.read("usr/lib/os-release"))?;
    let text = String::from_utf8_lossy(&text);
    let mut d = Distro::default();
    for line in text.lines() {
        let Some((k, val)) = line.split_once('=') else {
            continue;
        };
        let val = val.trim().trim_matches('"').trim_matches('\'').to_owned();
        match k.trim() {
            "ID" => d.id = val,
            "VERSION_ID" => d.version_id = val,
            "PRETTY_NAME" => d.pretty_name = val,
            "VERSION_CODENAME" => d.version_codename = val,
            _ => {}
        }
    }
    (!d.id.is_empty()).then_some(d)
}
