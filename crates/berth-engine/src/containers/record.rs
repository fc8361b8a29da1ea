//! A container's record (a row of `containers` in berth.db): its configuration as created,
//! and what the engine keeps about its life (start time, restarts, a user's stop). The field
//! names are those of the records earlier versions wrote, so they read on.

use berth_image::Digest;
use berth_models::container::{Config, HostConfig, NetworkingConfig};
use serde::{Deserialize, Serialize};

/// Docker's zero time.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn zero_time() -> String {
    ZERO_TIME.to_owned()
}

/// A volume a container mounts (made at create; bound at every start).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeMount {
    #[serde(default)]
    pub r#type: String,
    pub name: String,
    pub destination: String,
    #[serde(rename = "RW", default)]
    pub rw: bool,
    #[serde(default)]
    pub mode: String,
    /// Not filled from the image on first use (`nocopy`).
    #[serde(default)]
    pub no_copy: bool,
    /// Made for this container (`-v /dst`, an image's VOLUME): goes with `rm -v`.
    #[serde(default)]
    pub anonymous: bool,
    /// Copy-up happened (or was not needed): later starts leave the volume as it is.
    #[serde(default)]
    pub copied: bool,
    /// `--mount …,volume-subpath=DIR`: only this path inside the volume is mounted.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    pub id: String,
    /// With the leading slash, as Docker shows it.
    pub name: String,
    pub created: String,
    /// The image's id (`sha256:…`).
    pub image: String,
    /// The image's layers, bottom first.
    #[serde(default)]
    pub chain_ids: Vec<String>,
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    pub config: Config,
    #[serde(default)]
    pub host_config: HostConfig,
    #[serde(default)]
    pub networking_config: NetworkingConfig,
    #[serde(default)]
    pub mount_points: Vec<VolumeMount>,
    #[serde(default = "zero_time")]
    pub started_at: String,
    #[serde(default)]
    pub restart_count: i64,
    /// A user stopped it: restart policies leave it alone (but `always` at daemon start).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Its restart policy will start it again once the delay has passed.
    #[serde(default)]
    pub restarting: bool,
    /// The first host id of the container's user namespace range (`--userns auto`), as
    /// records made before `userns` have it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_base: Option<u32>,
    /// The maps of the container's user namespace (none: the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<super::idmap::IdMaps>,
}

impl Record {
    /// The maps of the container's user namespace, if it has one of its own.
    pub fn id_maps(&self) -> Option<super::idmap::IdMaps> {
        self.userns.clone().or_else(|| {
            self.userns_base
                .map(|b| super::idmap::IdMaps::single(b, super::idmap::SIZE))
        })
    }

    /// The name without the slash.
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }

    /// Was it ever started?
    pub fn ever_started(&self) -> bool {
        self.started_at != ZERO_TIME
    }

    /// The chain ids of its image's layers.
    pub fn chains(&self) -> Vec<Digest> {
        self.chain_ids
            .iter()
            .filter_map(|c| Digest::parse(c).ok())
            .collect()
    }

    /// The network mode, `bridge` for the default.
    pub fn network_mode(&self) -> &str {
        match self.host_config.network_mode.as_str() {
            "" | "default" => "bridge",
            m => m,
        }
    }

    /// `--link` targets as recorded (`/target:/me/alias`): (target name, alias).
    pub fn link_targets(&self) -> Vec<(String, String)> {
        self.host_config
            .links
            .iter()
            .flatten()
            .filter_map(|l| {
                let (t, a) = l.split_once(':')?;
                Some((
                    t.trim_start_matches('/').to_owned(),
                    a.rsplit('/').next()?.to_owned(),
                ))
            })
            .collect()
    }

    /// The user's labels.
    pub fn labels(&self) -> &berth_models::Map {
        static EMPTY: std::sync::OnceLock<berth_models::Map> = std::sync::OnceLock::new();
        self.config
            .labels
            .as_ref()
            .unwrap_or_else(|| EMPTY.get_or_init(Default::default))
    }

    /// `Path` and `Args` as one command line.
    pub fn command_line(&self) -> String {
        std::iter::once(self.path.as_str())
            .chain(self.args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_earlier_versions_read() {
        let old = r#"{"Id":"0123456789abcdef","Name":"/web","Created":"2026-01-01T00:00:00Z",
            "Image":"sha256:aa","ChainIds":[],"Path":"sh","Args":["-c","true"],
            "Config":{"Image":"busybox","Labels":{"a":"b"},"Bogus":1},
            "HostConfig":{"NetworkMode":"bridge","Links":["/db:/web/db"]},
            "NetworkingConfig":{"EndpointsConfig":{"bridge":{}}},
            "MountPoints":[{"Type":"volume","Name":"v","Destination":"/d","RW":true,"Mode":"","NoCopy":false,"Anonymous":true}],
            "StartedAt":"0001-01-01T00:00:00Z","RestartCount":0}"#;
        let r: Record = serde_json::from_str(old).expect("old record");
        assert_eq!(r.short_name(), "web");
        assert_eq!(r.short_id(), "0123456789ab");
        assert!(!r.ever_started());
        assert_eq!(r.link_targets(), vec![("db".to_owned(), "db".to_owned())]);
        assert_eq!(r.labels()["a"], "b");
        assert_eq!(r.command_line(), "sh -c true");
        assert!(r.mount_points[0].anonymous && !r.mount_points[0].copied);
        assert!(!r.manually_stopped);
        // Written and read again: the same record.
        let again: Record =
            serde_json::from_str(&serde_json::to_string(&r).expect("json")).expect("read");
        assert_eq!(again, r);
    }
}
