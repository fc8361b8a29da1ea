//! The security view of a project (`berth compose config --check`): what the Docker security
//! guide warns about — privileged services, the host's namespaces, the Docker socket mounted,
//! no memory or pids limit, added capabilities, confinement switched off, secrets in plain
//! environment variables — each finding with its rule, level, service and key path, as text
//! or as SARIF 2.1.0 for code-scanning tools.

use serde::Serialize;
use serde_json::Value;

use crate::model::{Project, Service, scalar};

/// How serious a finding is (SARIF's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Note,
    Warning,
    Error,
}

/// A rule: its id, short name and what it guards against.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub id: &'static str,
    pub name: &'static str,
    pub level: Level,
    pub text: &'static str,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "BC001",
        name: "privileged",
        level: Level::Error,
        text: "A privileged container has every capability and the host's devices: a root process in it is root on the host.",
    },
    Rule {
        id: "BC002",
        name: "host-namespace",
        level: Level::Error,
        text: "Sharing the host's network, PID, IPC or user namespace removes a layer of isolation.",
    },
    Rule {
        id: "BC003",
        name: "engine-socket",
        level: Level::Error,
        text: "The container engine's socket mounted into a container gives it control of the engine, and so of the host.",
    },
    Rule {
        id: "BC004",
        name: "no-memory-limit",
        level: Level::Warning,
        text: "Without a memory limit one container can exhaust the host's memory.",
    },
    Rule {
        id: "BC005",
        name: "capability-added",
        level: Level::Warning,
        text: "An added capability widens what root in the container may do to the kernel.",
    },
    Rule {
        id: "BC006",
        name: "confinement-off",
        level: Level::Error,
        text: "seccomp, AppArmor or SELinux confinement switched off, or no-new-privileges disabled.",
    },
    Rule {
        id: "BC007",
        name: "secret-in-environment",
        level: Level::Warning,
        text: "A secret in a plain environment variable shows in `inspect`, in logs and to every process: use `secrets:`.",
    },
    Rule {
        id: "BC008",
        name: "no-pids-limit",
        level: Level::Note,
        text: "Without a pids limit a fork bomb in one container can exhaust the host's process table (Berth's daemon applies a default of 2048).",
    },
    Rule {
        id: "BC009",
        name: "host-device",
        level: Level::Warning,
        text: "A host device in a container lets it reach hardware directly.",
    },
    Rule {
        id: "BC010",
        name: "sensitive-host-path",
        level: Level::Warning,
        text: "A bind mount of a sensitive host directory (/, /etc, /proc, /sys, /boot, /dev, /root, /var/lib) exposes the host.",
    },
];

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub level: Level,
    pub service: String,
    /// The key path (`services.web.privileged`).
    pub path: String,
    pub message: String,
}

fn rule(id: &str) -> &'static Rule {
    RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[0])
}

fn finding(id: &'static str, service: &str, key: &str, message: String) -> Finding {
    Finding {
        rule: id,
        level: rule(id).level,
        service: service.to_owned(),
        path: format!("services.{service}.{key}"),
        message,
    }
}

const SOCKETS: &[&str] = &[
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/run/berth.sock",
    "/run/berth.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
];
const SENSITIVE: &[&str] = &[
    "/", "/etc", "/proc", "/sys", "/boot", "/dev", "/root", "/var/lib",
];
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
    "CREDENTIAL",
];
const RISKY_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "NET_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "DAC_READ_SEARCH",
    "BPF",
    "PERFMON",
];

/// Every finding of the project, by service, then rule.
pub fn check(p: &Project) -> Vec<Finding> {
    let mut out = Vec::new();
    for (name, s) in &p.services {
        service(name, s, &mut out);
    }
    out
}

fn service(name: &str, s: &Service, out: &mut Vec<Finding>) {
    let other = |k: &str| s.other.get(k);
    let text = |k: &str| other(k).and_then(scalar).unwrap_or_default();
    if other("privileged").and_then(Value::as_bool) == Some(true) {
        out.push(finding(
            "BC001",
            name,
            "privileged",
            format!("service {name:?} runs privileged"),
        ));
    }
    for (key, what) in [
        ("network_mode", "network"),
        ("pid", "PID"),
        ("ipc", "IPC"),
        ("userns_mode", "user"),
        ("uts", "UTS"),
    ] {
        if text(key) == "host" {
            out.push(finding(
                "BC002",
                name,
                key,
                format!("service {name:?} shares the host's {what} namespace ({key}: host)"),
            ));
        }
    }
    for m in &s.volumes {
        let Some(src) = m.source.as_deref().filter(|_| m.r#type == "bind") else {
            continue;
        };
        let src = src.trim_end_matches('/');
        let src = if src.is_empty() { "/" } else { src };
        if SOCKETS.contains(&src) {
            out.push(finding(
                "BC003",
                name,
                "volumes",
                format!(
                    "service {name:?} mounts the engine's socket {src} at {}",
                    m.target
                ),
            ));
        } else if SENSITIVE.contains(&src) {
            out.push(finding(
                "BC010",
                name,
                "volumes",
                format!(
                    "service {name:?} mounts the host's {src} at {}{}",
                    m.target,
                    if m.read_only { " (read-only)" } else { "" }
                ),
            ));
        }
    }
    let limits = other("deploy")
        .and_then(|d| d.pointer("/resources/limits"))
        .cloned()
        .unwrap_or(Value::Null);
    if other("mem_limit").is_none() && limits.get("memory").is_none() {
        out.push(finding(
            "BC004",
            name,
            "mem_limit",
            format!(
                "service {name:?} has no memory limit (mem_limit or deploy.resources.limits.memory)"
            ),
        ));
    }
    if other("pids_limit").is_none() && limits.get("pids").is_none() {
        out.push(finding(
            "BC008",
            name,
            "pids_limit",
            format!("service {name:?} sets no pids limit"),
        ));
    }
    for cap in other("cap_add")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(scalar)
    {
        let bare = cap.to_uppercase();
        let bare = bare.trim_start_matches("CAP_");
        let level = if RISKY_CAPS.contains(&bare) {
            Level::Error
        } else {
            Level::Warning
        };
        let mut f = finding(
            "BC005",
            name,
            "cap_add",
            format!("service {name:?} adds the capability {cap}"),
        );
        f.level = level;
        out.push(f);
    }
    for opt in other("security_opt")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(scalar)
    {
        let o = opt.replace('=', ":");
        let off = matches!(
            o.as_str(),
            "seccomp:unconfined"
                | "apparmor:unconfined"
                | "label:disable"
                | "no-new-privileges:false"
                | "systempaths:unconfined"
        );
        if off {
            out.push(finding(
                "BC006",
                name,
                "security_opt",
                format!("service {name:?} switches confinement off ({opt})"),
            ));
        }
    }
    for (k, v) in &s.environment {
        let upper = k.to_uppercase();
        let secret_name = SECRET_WORDS.iter().any(|w| upper.contains(w));
        // A value given in the file (or interpolated into it); `_FILE` variables point at one.
        if secret_name && !upper.ends_with("_FILE") && v.as_deref().is_some_and(|v| !v.is_empty()) {
            out.push(finding(
                "BC007",
                name,
                &format!("environment.{k}"),
                format!("service {name:?} passes {k} in a plain environment variable"),
            ));
        }
    }
    if other("devices")
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty())
    {
        out.push(finding(
            "BC009",
            name,
            "devices",
            format!("service {name:?} is given host devices"),
        ));
    }
}

/// The findings as lines: `LEVEL RULE path: message`.
pub fn text(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        let level = match f.level {
            Level::Error => "ERROR",
            Level::Warning => "WARNING",
            Level::Note => "NOTE",
        };
        out.push_str(&format!(
            "{level:<7} {} {} {}: {}\n",
            f.rule,
            rule(f.rule).name,
            f.path,
            f.message
        ));
    }
    out
}

#[derive(Serialize)]
struct Sarif {
    version: &'static str,
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Run {
    tool: Tool,
    results: Vec<SarifResult>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<SarifRule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRule {
    id: &'static str,
    name: &'static str,
    short_description: Message,
    default_configuration: Configuration,
}

#[derive(Serialize)]
struct Configuration {
    level: Level,
}

#[derive(Serialize)]
struct Message {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult {
    rule_id: &'static str,
    rule_index: usize,
    level: Level,
    message: Message,
    locations: Vec<Location>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: Physical,
    logical_locations: Vec<Logical>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical {
    artifact_location: Artifact,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
struct Artifact {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Logical {
    fully_qualified_name: String,
    kind: &'static str,
}

/// The line (1-based) of a finding's key in `text` (the service's block, then the key in it),
/// when it can be found.
fn line_of(text: &str, f: &Finding) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().starts_with(&format!("{}:", f.service)))?;
    let key = f.path.split('.').nth(2)?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    for (i, l) in lines.iter().enumerate().skip(start + 1) {
        let ind = l.len() - l.trim_start().len();
        if !l.trim().is_empty() && ind <= indent {
            break;
        }
        if l.trim_start().starts_with(&format!("{key}:")) {
            return Some(i + 1);
        }
    }
    Some(start + 1)
}

/// The findings as a SARIF 2.1.0 log; `file` is the project's first file (`uri` as given,
/// its text for line numbers).
pub fn sarif(findings: &[Finding], file: &str, file_text: &str) -> String {
    let rules = RULES
        .iter()
        .map(|r| SarifRule {
            id: r.id,
            name: r.name,
            short_description: Message {
                text: r.text.to_owned(),
            },
            default_configuration: Configuration { level: r.level },
        })
        .collect();
    let results = findings
        .iter()
        .map(|f| SarifResult {
            rule_id: f.rule,
            rule_index: RULES.iter().position(|r| r.id == f.rule).unwrap_or(0),
            level: f.level,
            message: Message {
                text: f.message.clone(),
            },
            locations: vec![Location {
                physical_location: Physical {
                    artifact_location: Artifact {
                        uri: file.to_owned(),
                    },
                    region: line_of(file_text, f).map(|start_line| Region { start_line }),
                },
                logical_locations: vec![Logical {
                    fully_qualified_name: f.path.clone(),
                    kind: "member",
                }],
            }],
        })
        .collect();
    let log = Sarif {
        version: "2.1.0",
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: vec![Run {
            tool: Tool {
                driver: Driver {
                    name: "berth compose config --check",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri: "https://github.com/berth/berth/blob/main/docs/compose.md",
                    rules,
                },
            },
            results,
        }],
    };
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Options, load};

    fn project(yaml: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("compose.yaml"), yaml).expect("write");
        load(&Options {
            files: vec![dir.path().join("compose.yaml")],
            ..Default::default()
        })
        .expect("load")
    }

    #[test]
    fn every_rule_fires_on_what_the_guide_warns_about() {
        let p = project(
            "services:\n  bad:\n    image: x\n    privileged: true\n    network_mode: host\n    pid: host\n    cap_add: [SYS_ADMIN, CHOWN]\n    security_opt: [seccomp=unconfined]\n    devices: [/dev/fuse]\n    volumes: [/var/run/docker.sock:/var/run/docker.sock, /etc:/host-etc:ro]\n    environment: {DB_PASSWORD: hunter2, PASSWORD_FILE: /run/secrets/pw, LEVEL: debug}\n  good:\n    image: x\n    mem_limit: 64m\n    pids_limit: 100\n",
        );
        let f = check(&p);
        let ids: Vec<(&str, &str)> = f.iter().map(|f| (f.rule, f.path.as_str())).collect();
        assert_eq!(
            ids,
            [
                ("BC001", "services.bad.privileged"),
                ("BC002", "services.bad.network_mode"),
                ("BC002", "services.bad.pid"),
                ("BC003", "services.bad.volumes"),
                ("BC010", "services.bad.volumes"),
                ("BC004", "services.bad.mem_limit"),
                ("BC008", "services.bad.pids_limit"),
                ("BC005", "services.bad.cap_add"),
                ("BC005", "services.bad.cap_add"),
                ("BC006", "services.bad.security_opt"),
                ("BC007", "services.bad.environment.DB_PASSWORD"),
                ("BC009", "services.bad.devices"),
            ]
        );
        assert_eq!(f[7].level, Level::Error, "SYS_ADMIN");
        assert_eq!(f[8].level, Level::Warning, "CHOWN");
        let s: Value = serde_json::from_str(&sarif(
            &f,
            "compose.yaml",
            "services:\n  bad:\n    image: x\n    privileged: true\n",
        ))
        .expect("sarif");
        assert_eq!(s["version"], "2.1.0");
        assert_eq!(s["runs"][0]["results"][0]["ruleId"], "BC001");
        assert_eq!(
            s["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            4
        );
        assert_eq!(
            s["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .map(Vec::len),
            Some(RULES.len())
        );
    }
}
