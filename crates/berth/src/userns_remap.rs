//! dockerd's `userns-remap`: `default` (the `dockremap` ranges, added to /etc/subuid and
//! /etc/subgid when missing, as dockerd adds the user), `USER`, `USER:GROUP` or `UID:GID`,
//! whose subordinate ids every container without a `--userns` of its own is mapped to.
//! Unlike dockerd, no data directory of its own: layers and volumes are idmapped mounts.

use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use berth_engine::containers::idmap::{self, IdMaps, IdRange};

/// Where subordinate ids are read (`BERTH_SUBUID_FILE`/`BERTH_SUBGID_FILE` point elsewhere,
/// for tests and hosts that keep them apart).
fn files() -> (PathBuf, PathBuf) {
    let f = |var: &str, dflt: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(dflt))
    };
    (
        f("BERTH_SUBUID_FILE", "/etc/subuid"),
        f("BERTH_SUBGID_FILE", "/etc/subgid"),
    )
}

fn read(p: &PathBuf) -> Result<String> {
    match std::fs::read_to_string(p) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(anyhow!("userns-remap: read {}: {e}", p.display())),
    }
}

/// The user dockerd makes for `default`.
const DEFAULT_USER: &str = "dockremap";

/// The maps `value` names.
pub fn resolve(value: &str) -> Result<IdMaps> {
    let (uidf, gidf) = files();
    let (user, group) = value.split_once(':').unwrap_or((value, value));
    if user.is_empty() || group.is_empty() {
        bail!("invalid userns-remap {value:?}: use default, USER, USER:GROUP or UID:GID");
    }
    if value == "default" {
        ensure_default(&uidf, &gidf)?;
        let maps = IdMaps {
            uids: idmap::subids(&read(&uidf)?, DEFAULT_USER, None),
            gids: idmap::subids(&read(&gidf)?, DEFAULT_USER, None),
        };
        return check(maps, value);
    }
    // A name or a number, each looked up for the other (entries may use either).
    let (uname, uid) = match user.parse::<u32>() {
        Ok(n) => (
            nix::unistd::User::from_uid(n.into())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_default(),
            Some(n),
        ),
        Err(_) => {
            let u = nix::unistd::User::from_name(user)
                .ok()
                .flatten()
                .ok_or_else(|| anyhow!("userns-remap: no such user: {user}"))?;
            (u.name, Some(u.uid.as_raw()))
        }
    };
    let (gname, gid) = match group.parse::<u32>() {
        Ok(n) => (
            nix::unistd::Group::from_gid(n.into())
                .ok()
                .flatten()
                .map(|g| g.name)
                .unwrap_or_default(),
            Some(n),
        ),
        Err(_) => match nix::unistd::Group::from_name(group).ok().flatten() {
            Some(g) => (g.name, Some(g.gid.as_raw())),
            None => (group.to_owned(), None),
        },
    };
    let maps = IdMaps {
        uids: idmap::subids(&read(&uidf)?, &uname, uid),
        gids: idmap::subids(&read(&gidf)?, &gname, gid),
    };
    check(maps, value)
}

fn check(maps: IdMaps, value: &str) -> Result<IdMaps> {
    let (uidf, gidf) = files();
    if maps.uids.is_empty() {
        bail!(
            "userns-remap {value:?}: no subordinate uid ranges found in {}",
            uidf.display()
        );
    }
    if maps.gids.is_empty() {
        bail!(
            "userns-remap {value:?}: no subordinate gid ranges found in {}",
            gidf.display()
        );
    }
    for r in maps.host_ranges() {
        if r.host == 0 {
            bail!("userns-remap {value:?}: a range maps host root (id 0) into containers");
        }
    }
    Ok(maps)
}

/// Give `dockremap` a range of 65,536 ids in both files when it has none: the first block
/// from 100,000 that no entry of either file has.
fn ensure_default(uidf: &PathBuf, gidf: &PathBuf) -> Result<()> {
    let (ut, gt) = (read(uidf)?, read(gidf)?);
    if !idmap::subids(&ut, DEFAULT_USER, None).is_empty()
        && !idmap::subids(&gt, DEFAULT_USER, None).is_empty()
    {
        return Ok(());
    }
    let taken: Vec<IdRange> = ut
        .lines()
        .chain(gt.lines())
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split(':').collect();
            match f.as_slice() {
                [_, h, n] => Some(IdRange {
                    container: 0,
                    host: h.parse().ok()?,
                    size: n.parse().ok()?,
                }),
                _ => None,
            }
        })
        .collect();
    let mut base: u64 = 100_000;
    while let Some(end) = taken
        .iter()
        .filter(|t| {
            u64::from(t.host) < base + 65_536 && base < u64::from(t.host) + u64::from(t.size)
        })
        .map(|t| u64::from(t.host) + u64::from(t.size))
        .max()
    {
        base = end;
    }
    let line = format!("{DEFAULT_USER}:{base}:65536\n");
    for (p, text) in [(uidf, ut), (gidf, gt)] {
        if !idmap::subids(&text, DEFAULT_USER, None).is_empty() {
            continue;
        }
        let mut new = text;
        if !new.is_empty() && !new.ends_with('\n') {
            new.push('\n');
        }
        new.push_str(&line);
        // Whole or not at all: a temporary file renamed over the old one.
        let tmp = p.with_extension("berth-tmp");
        std::fs::write(&tmp, &new)
            .and_then(|()| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
            })
            .and_then(|()| std::fs::rename(&tmp, p))
            .with_context(|| {
                format!(
                    "userns-remap: add {DEFAULT_USER}'s range to {}",
                    p.display()
                )
            })?;
        tracing::info!("userns-remap: added {} to {}", line.trim(), p.display());
    }
    Ok(())
}
