//! Which host ids a container's user namespace maps: the request (`--userns auto[:size=N]`,
//! `--userns map:C:H:N`, the daemon's `userns-remap` or `default-userns`), the maps recorded
//! with the container, and the choice of a free range that overlaps no other container's.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Auto ranges start here (above the ids of the host's own users and of /etc/subuid's usual
/// first ranges), at multiples of [`SIZE`] from it.
pub const FIRST: u32 = 200_000;
/// The size of a range unless `auto:size=N` says otherwise.
pub const SIZE: u32 = 65_536;

/// Container ids `container..container+size` are host ids `host..host+size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl IdRange {
    fn host_end(&self) -> u64 {
        u64::from(self.host) + u64::from(self.size)
    }

    fn overlaps(&self, o: &IdRange) -> bool {
        u64::from(self.host) < o.host_end() && u64::from(o.host) < self.host_end()
    }
}

/// A user namespace's uid and gid maps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMaps {
    pub uids: Vec<IdRange>,
    pub gids: Vec<IdRange>,
}

impl IdMaps {
    /// Container ids 0..size are host ids base..base+size, for users and groups alike.
    pub fn single(base: u32, size: u32) -> IdMaps {
        let r = vec![IdRange {
            container: 0,
            host: base,
            size,
        }];
        IdMaps {
            uids: r.clone(),
            gids: r,
        }
    }

    /// The host uid and gid of the container's root.
    pub fn root(&self) -> (u32, u32) {
        let of = |m: &[IdRange]| {
            m.iter()
                .find(|r| r.container == 0)
                .map_or(u32::MAX - 1, |r| r.host) // overflow id: no root mapped
        };
        (of(&self.uids), of(&self.gids))
    }

    /// The host id that container id `id` is (None: unmapped).
    pub fn to_host(map: &[IdRange], id: u32) -> Option<u32> {
        map.iter()
            .find(|r| id >= r.container && id - r.container < r.size)
            .map(|r| r.host + (id - r.container))
    }

    /// The container id that host id `id` is (None: unmapped).
    pub fn to_container(map: &[IdRange], id: u32) -> Option<u32> {
        map.iter()
            .find(|r| id >= r.host && id - r.host < r.size)
            .map(|r| r.container + (id - r.host))
    }

    /// Every host range, users' and groups'.
    pub fn host_ranges(&self) -> impl Iterator<Item = &IdRange> {
        self.uids.iter().chain(&self.gids)
    }

    /// A `/proc/PID/uid_map` text.
    pub fn lines(map: &[IdRange]) -> String {
        map.iter()
            .map(|r| format!("{} {} {}\n", r.container, r.host, r.size))
            .collect()
    }

    /// The runtime spec's `uidMappings`/`gidMappings` value.
    pub fn spec(map: &[IdRange]) -> serde_json::Value {
        serde_json::Value::Array(
            map.iter()
                .map(|r| serde_json::json!({"containerID": r.container, "hostID": r.host, "size": r.size}))
                .collect(),
        )
    }

    pub fn describe(&self) -> String {
        self.uids
            .iter()
            .map(|r| format!("{}-{}", r.host, r.host_end() - 1))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What a container asks of user namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The host's user namespace.
    Host,
    /// A free range of this size, chosen at create.
    Auto(u32),
    /// These ranges exactly (refused when another container's overlap them).
    Map(IdMaps),
    /// The daemon's `userns-remap` ranges, shared by every remapped container.
    Remap,
}

/// Parse a `UsernsMode` (after the daemon's defaults were applied).
pub fn parse(mode: &str, remap: bool) -> Result<Request> {
    let bad = |m: String| Error::InvalidParameter(m);
    match mode {
        "" if remap => Ok(Request::Remap),
        "" | "host" => Ok(Request::Host),
        "auto" => Ok(Request::Auto(SIZE)),
        m if m.starts_with("auto:") => {
            let mut size = SIZE;
            for opt in m["auto:".len()..].split(',') {
                match opt.split_once('=') {
                    Some(("size", n)) => {
                        size = n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                            bad(format!(
                                "invalid --userns {m}: size {n:?} is not a positive number"
                            ))
                        })?;
                    }
                    _ => {
                        return Err(bad(format!(
                            "invalid --userns {m}: unknown option {opt:?} (auto takes size=N)"
                        )));
                    }
                }
            }
            Ok(Request::Auto(size))
        }
        m if m.starts_with("map:") => {
            let mut ranges = Vec::new();
            for part in m["map:".len()..].split(',') {
                let n: Vec<Option<u32>> = part.split(':').map(|x| x.parse().ok()).collect();
                let r = match n.as_slice() {
                    [Some(c), Some(h), Some(s)] if *s > 0 => IdRange {
                        container: *c,
                        host: *h,
                        size: *s,
                    },
                    _ => {
                        return Err(bad(format!(
                            "invalid id map {part:?} in --userns {m}: CONTAINER_ID:HOST_ID:SIZE"
                        )));
                    }
                };
                if r.host_end() > u64::from(u32::MAX)
                    || u64::from(r.container) + u64::from(r.size) > u64::from(u32::MAX)
                {
                    return Err(bad(format!(
                        "invalid id map {part:?}: it runs past the last id"
                    )));
                }
                if r.host == 0 {
                    return Err(bad(format!(
                        "invalid id map {part:?}: it maps host root (id 0) into the container"
                    )));
                }
                if ranges.iter().any(|o: &IdRange| o.overlaps(&r)) {
                    return Err(bad(format!(
                        "invalid --userns {m}: its host ranges overlap one another"
                    )));
                }
                ranges.push(r);
            }
            Ok(Request::Map(IdMaps {
                uids: ranges.clone(),
                gids: ranges,
            }))
        }
        m => Err(bad(format!("invalid user namespace mode: {m}"))),
    }
}

/// Host ranges taken: by whom (a container's name, or the daemon's remap) and which.
pub type Taken = Vec<(String, IdRange)>;

/// The lowest free range of `size` ids at or above [`FIRST`] (at multiples of [`SIZE`]).
pub fn allocate(taken: &Taken, size: u32) -> Result<IdMaps> {
    let mut base = u64::from(FIRST);
    loop {
        if base + u64::from(size) > u64::from(u32::MAX) {
            return Err(Error::Conflict(
                "no free user namespace range is left".into(),
            ));
        }
        let r = IdRange {
            container: 0,
            host: base as u32,
            size,
        };
        match taken
            .iter()
            .filter(|(_, t)| t.overlaps(&r))
            .map(|(_, t)| t.host_end())
            .max()
        {
            None => return Ok(IdMaps::single(r.host, size)),
            Some(end) => {
                let step = u64::from(SIZE);
                let from = end.saturating_sub(u64::from(FIRST));
                base = u64::from(FIRST) + from.div_ceil(step) * step;
            }
        }
    }
}

/// Refuse `maps` when one of its ranges overlaps one taken.
pub fn check_free(taken: &Taken, maps: &IdMaps) -> Result<()> {
    for r in maps.host_ranges() {
        if let Some((who, t)) = taken.iter().find(|(_, t)| t.overlaps(r)) {
            return Err(Error::InvalidParameter(format!(
                "user namespace range {}-{} overlaps {who}'s ({}-{}): ranges of two containers may never share a host id",
                r.host,
                r.host_end() - 1,
                t.host,
                t.host_end() - 1
            )));
        }
    }
    Ok(())
}

/// The ranges of `name` (or of uid `uid`) in a /etc/subuid-format text.
pub fn subids(text: &str, name: &str, uid: Option<u32>) -> Vec<IdRange> {
    let mut out: Vec<IdRange> = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.trim().split(':').collect();
        let [who, start, count] = f.as_slice() else {
            continue;
        };
        let ours = *who == name || uid.is_some_and(|u| who.parse() == Ok(u));
        if let (true, Ok(host), Ok(size)) = (ours, start.parse::<u32>(), count.parse::<u32>()) {
            if size > 0 {
                let container = out.iter().map(|r| r.container + r.size).max().unwrap_or(0);
                out.push(IdRange {
                    container,
                    host,
                    size,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(host: u32, size: u32) -> (String, IdRange) {
        (
            "x".into(),
            IdRange {
                container: 0,
                host,
                size,
            },
        )
    }

    #[test]
    fn ranges_never_overlap() {
        let base = |taken: &Taken, size| allocate(taken, size).unwrap().uids[0].host;
        assert_eq!(base(&vec![], SIZE), FIRST);
        assert_eq!(base(&vec![t(FIRST, SIZE)], SIZE), FIRST + SIZE);
        assert_eq!(base(&vec![t(FIRST + SIZE, SIZE)], SIZE), FIRST);
        assert_eq!(
            base(&vec![t(FIRST, SIZE), t(FIRST + 2 * SIZE, SIZE)], SIZE),
            FIRST + SIZE
        );
        assert_eq!(base(&vec![t(FIRST + 10, SIZE)], SIZE), FIRST + 2 * SIZE);
        // A bigger request skips a gap too small for it.
        assert_eq!(
            base(&vec![t(FIRST + SIZE, SIZE)], 2 * SIZE),
            FIRST + 2 * SIZE
        );
        assert_eq!(base(&vec![t(FIRST, 10)], 1000), FIRST + SIZE);
    }

    #[test]
    fn requests_parse_and_bad_ones_say_why() {
        assert_eq!(parse("", false).unwrap(), Request::Host);
        assert_eq!(parse("", true).unwrap(), Request::Remap);
        assert_eq!(parse("host", true).unwrap(), Request::Host);
        assert_eq!(parse("auto:size=1024", false).unwrap(), Request::Auto(1024));
        assert_eq!(
            parse("map:0:300000:65536", false).unwrap(),
            Request::Map(IdMaps::single(300_000, 65_536))
        );
        for (m, says) in [
            ("auto:size=0", "not a positive number"),
            ("auto:keep=1", "unknown option"),
            ("map:0:0:65536", "maps host root"),
            ("map:0:300000", "CONTAINER_ID:HOST_ID:SIZE"),
            ("map:0:4294967000:65536", "past the last id"),
            ("map:0:300000:100,100:300050:100", "overlap one another"),
            ("keep-id", "invalid user namespace mode"),
        ] {
            let e = parse(m, false).unwrap_err().to_string();
            assert!(e.contains(says), "{m}: {e}");
        }
        let e = check_free(&vec![t(300_010, 5)], &IdMaps::single(300_000, 65_536))
            .unwrap_err()
            .to_string();
        assert!(e.contains("overlaps x's (300010-300014)"), "{e}");
        assert!(check_free(&vec![t(365_536, 5)], &IdMaps::single(300_000, 65_536)).is_ok());
    }

    #[test]
    fn subordinate_ids_by_name_or_uid() {
        let text =
            "alice:100000:65536\ndockremap:165536:1000\n# x\n1000:300000:10\ndockremap:400000:5\n";
        assert_eq!(
            subids(text, "dockremap", None),
            vec![
                IdRange {
                    container: 0,
                    host: 165_536,
                    size: 1000
                },
                IdRange {
                    container: 1000,
                    host: 400_000,
                    size: 5
                }
            ]
        );
        assert_eq!(subids(text, "bob", Some(1000))[0].host, 300_000);
        assert!(subids(text, "carol", None).is_empty());
    }
}
