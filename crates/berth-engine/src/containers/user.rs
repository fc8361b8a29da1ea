//! `--user`: names and numbers resolved in the container's own /etc/passwd and /etc/group,
//! read without following symlinks out of its root.

use std::path::Path;

use crate::{Error, Result};

/// `user`, `uid`, `user:group`, `uid:gid` → numeric ids.
pub fn resolve(rootfs: &Path, user: &str) -> Result<(u32, u32)> {
    let read = |f: &str| read_in_root(rootfs, f).unwrap_or_default();
    resolve_in(&read("etc/passwd"), &read("etc/group"), user)
}

/// The same, given the files' contents.
pub fn resolve_in(passwd: &str, group: &str, user: &str) -> Result<(u32, u32)> {
    if user.is_empty() {
        return Ok((0, 0));
    }
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let (uid, pgid) = match u.parse::<u32>() {
        Ok(n) => (
            n,
            passwd
                .lines()
                .find(|l| l.split(':').nth(2) == Some(u))
                .and_then(|l| l.split(':').nth(3)?.parse().ok())
                .unwrap_or(0),
        ),
        Err(_) => {
            let l = passwd
                .lines()
                .find(|l| l.split(':').next() == Some(u))
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "unable to find user {u}: no matching entries in passwd file"
                    ))
                })?;
            let f: Vec<&str> = l.split(':').collect();
            (
                f.get(2).and_then(|x| x.parse().ok()).unwrap_or(0),
                f.get(3).and_then(|x| x.parse().ok()).unwrap_or(0),
            )
        }
    };
    let gid = match g {
        None => pgid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .find(|l| l.split(':').next() == Some(g))
                .and_then(|l| l.split(':').nth(2)?.parse().ok())
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        },
    };
    Ok((uid, gid))
}

/// [`resolve`] with the supplementary groups of a process run as `user` (the groups
/// /etc/group lists the user in, then `--group-add`: numbers, or names looked up in
/// /etc/group, as runc and dockerd give them), the files read once.
pub fn resolve_with_groups(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> Result<(u32, u32, Vec<u32>)> {
    let read = |f: &str| read_in_root(rootfs, f).unwrap_or_default();
    let (passwd, group) = (read("etc/passwd"), read("etc/group"));
    let (uid, gid) = resolve_in(&passwd, &group, user)?;
    let groups = additional_gids_in(&passwd, &group, user, group_add)?;
    Ok((uid, gid, groups))
}

/// The same, given the files' contents.
pub fn additional_gids_in(
    passwd: &str,
    group: &str,
    user: &str,
    group_add: &[String],
) -> Result<Vec<u32>> {
    let name = user.split(':').next().unwrap_or_default();
    // A number names the user whose entry has that uid.
    let name = match name.parse::<u32>() {
        Ok(_) => passwd
            .lines()
            .find(|l| l.split(':').nth(2) == Some(name))
            .and_then(|l| l.split(':').next())
            .unwrap_or(""),
        Err(_) if name.is_empty() => "root",
        Err(_) => name,
    };
    let mut out: Vec<u32> = Vec::new();
    if !name.is_empty() && !user.contains(':') {
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            let members = f.get(3).copied().unwrap_or_default();
            if members.split(',').any(|m| m.trim() == name) {
                if let Some(g) = f.get(2).and_then(|g| g.parse().ok()) {
                    if !out.contains(&g) {
                        out.push(g);
                    }
                }
            }
        }
    }
    for g in group_add {
        let gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => group
                .lines()
                .find(|l| l.split(':').next() == Some(g.as_str()))
                .and_then(|l| l.split(':').nth(2)?.parse().ok())
                .ok_or_else(|| {
                    Error::InvalidParameter(format!(
                        "Unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

/// Read a file of the container's root filesystem without following symlinks out of it.
fn read_in_root(rootfs: &Path, rel: &str) -> Option<String> {
    use std::io::Read;
    let root = std::fs::File::open(rootfs).ok()?;
    let fd = berth_fs::open_in_root(&root, Path::new(rel), nix::fcntl::OFlag::O_RDONLY).ok()?;
    let mut s = String::new();
    std::fs::File::from(fd).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_resolve_as_docker_does() {
        let passwd = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n";
        let group = "root:x:0:\nweb:x:50:\n";
        assert_eq!(resolve_in(passwd, group, "").expect("root"), (0, 0));
        assert_eq!(resolve_in(passwd, group, "www").expect("name"), (33, 34));
        assert_eq!(resolve_in(passwd, group, "33").expect("uid"), (33, 34));
        assert_eq!(
            resolve_in(passwd, group, "1000").expect("unknown uid"),
            (1000, 0)
        );
        assert_eq!(
            resolve_in(passwd, group, "www:web").expect("group"),
            (33, 50)
        );
        assert_eq!(resolve_in(passwd, group, "www:7").expect("gid"), (33, 7));
        assert_eq!(
            resolve_in(passwd, group, "nobody")
                .expect_err("missing")
                .to_string(),
            "unable to find user nobody: no matching entries in passwd file"
        );
        assert!(resolve_in(passwd, group, "www:nogroup").is_err());
    }

    #[test]
    fn supplementary_groups_are_memberships_then_group_add() {
        let passwd = "root:x:0:0::/root:/bin/sh\nwww:x:33:34::/var/www:/bin/sh\n";
        let group = "root:x:0:\nwheel:x:10:root\nweb:x:50:www,other\n";
        let g = |user: &str, add: &[&str]| {
            let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
            additional_gids_in(passwd, group, user, &add)
        };
        assert_eq!(g("", &[]).expect("root"), vec![10]);
        assert_eq!(g("www", &["1000", "web"]).expect("www"), vec![50, 1000]);
        assert_eq!(g("33", &[]).expect("uid"), vec![50]);
        assert_eq!(g("www:7", &[]).expect("explicit group"), Vec::<u32>::new());
        assert_eq!(
            g("www", &["nope"]).expect_err("unknown").to_string(),
            "Unable to find group nope: no matching entries in group file"
        );
    }
}
