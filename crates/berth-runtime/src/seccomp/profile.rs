//! Seccomp profile types: one struct for both Docker's format (`archMap`, `includes`,
//! `excludes`) and the runtime-spec's `linux.seccomp` (which is Docker's minus those), plus
//! [`Profile::resolve`], which turns the former into the latter for one container.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A seccomp profile (Docker's JSON format or the runtime-spec's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub syscalls: Vec<Rule>,
}

/// An architecture and the sub-architectures a filter for it must also cover.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub sub_architectures: Vec<String>,
}

/// One rule: the syscalls it names, what happens to them, and when it applies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default, deserialize_with = "null_as_default")]
    pub names: Vec<String>,
    /// Docker's older single-name form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "Filter::is_empty")]
    pub includes: Filter,
    #[serde(default, skip_serializing_if = "Filter::is_empty")]
    pub excludes: Filter,
}

/// A condition on one syscall argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// When a rule applies (`includes`) or does not (`excludes`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub caps: Vec<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl Filter {
    pub fn caps(caps: &[&str]) -> Self {
        Filter {
            caps: caps.iter().map(|c| (*c).to_owned()).collect(),
            ..Filter::default()
        }
    }
    pub fn arches(arches: &[&str]) -> Self {
        Filter {
            arches: arches.iter().map(|c| (*c).to_owned()).collect(),
            ..Filter::default()
        }
    }
    pub fn is_empty(&self) -> bool {
        self.caps.is_empty() && self.arches.is_empty() && self.min_kernel.is_none()
    }
}

/// The machine a profile is resolved for: Go-style arch name (as Docker's `arches` use),
/// capabilities of the container, kernel version.
#[derive(Debug, Clone)]
pub struct Target {
    pub arch: String,
    pub caps: Vec<String>,
    pub kernel: (u32, u32),
}

impl Target {
    /// The running machine, with the given capabilities.
    pub fn host(caps: &[String]) -> Self {
        Target {
            arch: native_arch().to_owned(),
            caps: caps.to_vec(),
            kernel: kernel_version(),
        }
    }
}

/// Go's name of this machine's architecture (what Docker profiles' `arches` name).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// The libseccomp name of a Go architecture name.
fn scmp_arch_of(go: &str) -> &'static str {
    match go {
        "amd64" => "SCMP_ARCH_X86_64",
        "386" | "x86" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        _ => "",
    }
}

/// The running kernel's (major, minor).
pub fn kernel_version() -> (u32, u32) {
    let uts = nix::sys::utsname::uname().ok();
    let release = uts
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

impl Profile {
    /// Parse a profile (either format) from JSON, with an error naming what is wrong.
    pub fn from_json(data: &[u8]) -> Result<Profile> {
        let p: Profile = serde_json::from_slice(data)
            .map_err(|e| Error::Seccomp(format!("invalid profile: {e}")))?;
        p.validate()?;
        Ok(p)
    }

    /// Check the actions, operators, architectures and argument indexes.
    pub fn validate(&self) -> Result<()> {
        super::compile::parse_action(&self.default_action, self.default_errno_ret)?;
        for a in &self.architectures {
            super::compile::parse_arch(a)?;
        }
        for r in &self.syscalls {
            super::compile::parse_action(&r.action, r.errno_ret)?;
            for a in &r.args {
                super::compile::parse_op(&a.op, a.value, a.value_two)?;
                if a.index > 5 {
                    return Err(Error::Seccomp(format!(
                        "argument index {} of {:?} out of range 0..=5",
                        a.index, r.names
                    )));
                }
            }
        }
        Ok(())
    }

    /// Resolve a Docker-format profile for one container: pick the architectures of `target`'s
    /// arch from `archMap`, keep the rules whose `includes` hold and `excludes` do not, and drop
    /// those two fields. The result is a runtime-spec `linux.seccomp`.
    pub fn resolve(&self, target: &Target) -> Profile {
        let mut architectures = self.architectures.clone();
        let native = scmp_arch_of(&target.arch);
        if let Some(m) = self.arch_map.iter().find(|m| m.architecture == native) {
            architectures = std::iter::once(m.architecture.clone())
                .chain(m.sub_architectures.iter().cloned())
                .collect();
        }
        let has = |c: &String| target.caps.iter().any(|x| x == c);
        let syscalls = self
            .syscalls
            .iter()
            .filter(|r| {
                let inc = &r.includes;
                let exc = &r.excludes;
                if !inc.arches.is_empty() && !inc.arches.contains(&target.arch) {
                    return false;
                }
                if !inc.caps.is_empty() && !inc.caps.iter().all(has) {
                    return false;
                }
                if let Some(k) = inc.min_kernel.as_deref().and_then(parse_version) {
                    if target.kernel < k {
                        return false;
                    }
                }
                if exc.arches.contains(&target.arch) || exc.caps.iter().any(has) {
                    return false;
                }
                true
            })
            .map(|r| {
                let mut names = r.names.clone();
                names.extend(r.name.clone());
                Rule {
                    names,
                    name: None,
                    includes: Filter::default(),
                    excludes: Filter::default(),
                    ..r.clone()
                }
            })
            .collect();
        Profile {
            architectures,
            arch_map: Vec::new(),
            syscalls,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[&str]) -> Target {
        Target {
            arch: "amd64".into(),
            caps: caps.iter().map(|c| c.to_string()).collect(),
            kernel: (6, 1),
        }
    }

    #[test]
    fn resolve_picks_arches_and_caps() {
        let p = super::super::default::profile();
        let plain = p.resolve(&target(&[]));
        assert_eq!(
            plain.architectures,
            ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
        );
        let allowed = |p: &Profile, n: &str| {
            p.syscalls.iter().any(|r| {
                r.action == "SCMP_ACT_ALLOW" && r.args.is_empty() && r.names.iter().any(|x| x == n)
            })
        };
        assert!(!allowed(&plain, "mount"));
        assert!(allowed(&plain, "arch_prctl"));
        assert!(!allowed(&plain, "riscv_flush_icache"));
        let admin = p.resolve(&target(&["CAP_SYS_ADMIN"]));
        assert!(allowed(&admin, "mount"));
        assert!(allowed(&admin, "clone3"));
        assert!(!admin.syscalls.iter().any(|r| r.action == "SCMP_ACT_ERRNO"));
    }

    #[test]
    fn min_kernel_is_honoured() {
        let p = super::super::default::profile();
        let mut t = target(&[]);
        t.kernel = (4, 4);
        let old = p.resolve(&t);
        assert!(
            !old.syscalls
                .iter()
                .any(|r| r.names.iter().any(|n| n == "ptrace"))
        );
    }

    #[test]
    fn bad_profiles_are_named() {
        let e = Profile::from_json(br#"{"defaultAction":"SCMP_ACT_NOPE"}"#).unwrap_err();
        assert!(e.to_string().contains("SCMP_ACT_NOPE"), "{e}");
        let e = Profile::from_json(br#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_XX"}]}]}"#).unwrap_err();
        assert!(e.to_string().contains("SCMP_CMP_XX"), "{e}");
        let e = Profile::from_json(b"{not json").unwrap_err();
        assert!(e.to_string().contains("invalid profile"), "{e}");
    }
}
