//! Landlock for a container's processes (a Berth extension: the OCI spec has no field for
//! it): a profile in the annotation `dev.berth.landlock`, applied by the init and by every
//! `exec`'d process just before its seccomp filter — filesystem rules (what may be read,
//! written, executed beneath each path), TCP bind/connect port allow-lists (ABI 4) and scopes
//! (abstract unix sockets, signals; ABI 6). The kernel enforces what its ABI knows (best
//! effort); [`abi`] lets callers warn about the rest.

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, NetPort, PathBeneath,
    PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The annotation that carries a container's profile (JSON).
pub const ANNOTATION: &str = "dev.berth.landlock";

/// The newest ABI whose rights Berth asks for.
const WANT: ABI = ABI::V6;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Filesystem rules; absent: the filesystem is not restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystem: Option<Vec<FsRule>>,
    /// TCP port allow-lists; absent: the network is not restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetRules>,
    /// `abstract-unix-socket`, `signal`: no reaching outside the sandbox that way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FsRule {
    pub path: String,
    /// `read`, `write`, `execute`.
    pub access: Vec<String>,
    /// A path that may be absent (built-in profiles list such); a custom rule's path must exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetRules {
    #[serde(default)]
    pub bind: Vec<u16>,
    #[serde(default)]
    pub connect: Vec<u16>,
}

fn access_of(names: &[String]) -> std::result::Result<BitFlags<AccessFs>, String> {
    let mut a = BitFlags::EMPTY;
    for n in names {
        a |= match n.as_str() {
            "read" => AccessFs::ReadFile | AccessFs::ReadDir,
            "write" => {
                AccessFs::from_write(WANT)
                    | AccessFs::Refer
                    | AccessFs::Truncate
                    | AccessFs::IoctlDev
            }
            "execute" => AccessFs::Execute.into(),
            other => {
                return Err(format!(
                    "unknown access {other:?} (use read, write, execute)"
                ));
            }
        };
    }
    Ok(a & AccessFs::from_all(WANT))
}

impl Profile {
    /// Parse and check a profile (unknown fields, rights and scopes, relative paths are
    /// errors that name them).
    pub fn parse(text: &str) -> std::result::Result<Profile, String> {
        let p: Profile =
            serde_json::from_str(text).map_err(|e| format!("invalid landlock profile: {e}"))?;
        p.check()?;
        Ok(p)
    }

    pub fn check(&self) -> std::result::Result<(), String> {
        for r in self.filesystem.iter().flatten() {
            if !r.path.starts_with('/') {
                return Err(format!("landlock rule path {:?} must be absolute", r.path));
            }
            access_of(&r.access)?;
        }
        for s in &self.scope {
            if !matches!(s.as_str(), "abstract-unix-socket" | "signal") {
                return Err(format!(
                    "unknown landlock scope {s:?} (use abstract-unix-socket, signal)"
                ));
            }
        }
        Ok(())
    }

    /// What this kernel's ABI cannot enforce of the profile, for a warning.
    pub fn unenforced(&self, abi: i32) -> Vec<String> {
        let mut out = Vec::new();
        if abi < 1 {
            out.push("everything (Landlock is not available)".to_owned());
            return out;
        }
        if self.network.is_some() && abi < 4 {
            out.push(format!("TCP port rules (ABI 4; this kernel has {abi})"));
        }
        if !self.scope.is_empty() && abi < 6 {
            out.push(format!("scopes (ABI 6; this kernel has {abi})"));
        }
        out
    }
}

/// The kernel's Landlock ABI version (0: none).
pub fn abi() -> i32 {
    // SAFETY: landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION) only returns
    // the ABI version; it takes no pointer it would write through.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    i32::try_from(v).unwrap_or(0).max(0)
}

fn ll(e: impl std::fmt::Display) -> Error {
    Error::Init(format!("landlock: {e}"))
}

/// Restrict the calling process (and what it executes) as `p` says; paths are opened now,
/// inside the container.
pub fn apply(p: &Profile) -> Result<()> {
    let mut rs = Ruleset::default().set_compatibility(CompatLevel::BestEffort);
    if p.filesystem.is_some() {
        rs = rs.handle_access(AccessFs::from_all(WANT)).map_err(ll)?;
    }
    if p.network.is_some() {
        rs = rs.handle_access(AccessNet::from_all(WANT)).map_err(ll)?;
    }
    let mut scopes: BitFlags<Scope> = BitFlags::EMPTY;
    for s in &p.scope {
        scopes |= if s == "signal" {
            Scope::Signal
        } else {
            Scope::AbstractUnixSocket
        };
    }
    if !scopes.is_empty() {
        rs = rs.scope(scopes).map_err(ll)?;
    }
    let mut created = rs.create().map_err(ll)?;
    for r in p.filesystem.iter().flatten() {
        let fd = match PathFd::new(&r.path) {
            Ok(fd) => fd,
            Err(_) if r.optional => continue,
            Err(e) => return Err(ll(format!("{}: {e}", r.path))),
        };
        let mut access = access_of(&r.access).map_err(ll)?;
        let is_dir = std::fs::metadata(&r.path).is_ok_and(|m| m.is_dir());
        if !is_dir {
            access &= AccessFs::from_file(WANT);
        }
        created = created
            .add_rule(PathBeneath::new(fd, access))
            .map_err(|e| ll(format!("{}: {e}", r.path)))?;
    }
    if let Some(n) = &p.network {
        for port in &n.bind {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::BindTcp))
                .map_err(ll)?;
        }
        for port in &n.connect {
            created = created
                .add_rule(NetPort::new(*port, AccessNet::ConnectTcp))
                .map_err(ll)?;
        }
    }
    let status = created.restrict_self().map_err(ll)?;
    if status.ruleset == RulesetStatus::NotEnforced && abi() > 0 {
        return Err(ll("the kernel enforced none of the profile"));
    }
    Ok(())
}

/// The profile a spec's annotations carry, if any.
pub fn from_annotations<'a>(
    mut annotations: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<Option<Profile>> {
    match annotations.find(|(k, _)| *k == ANNOTATION) {
        None => Ok(None),
        Some((_, v)) => Profile::parse(v).map(Some).map_err(Error::Spec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_checked() {
        let p = Profile::parse(
            r#"{"filesystem":[{"path":"/","access":["read","execute"]},{"path":"/data","access":["read","write"]}],
                "network":{"connect":[443]},"scope":["signal"]}"#,
        )
        .unwrap();
        assert_eq!(p.filesystem.as_ref().unwrap().len(), 2);
        assert_eq!(p.unenforced(3).len(), 2);
        assert!(p.unenforced(7).is_empty());
        for (bad, want) in [
            (
                r#"{"filesystem":[{"path":"data","access":["read"]}]}"#,
                "absolute",
            ),
            (r#"{"filesystem":[{"path":"/d","access":["fly"]}]}"#, "fly"),
            (r#"{"scope":["ptrace"]}"#, "ptrace"),
            (r#"{"files":[]}"#, "files"),
        ] {
            let e = Profile::parse(bad).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn the_kernel_has_landlock() {
        // This machine's kernel (6.18) has ABI 7; CI's is the same kind.
        assert!(abi() >= 1, "no landlock");
    }
}
