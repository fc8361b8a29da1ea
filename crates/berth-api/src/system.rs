//! `/_ping`, `/version`, `/info`, `/auth`.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::{API_VERSION, Ctx, MIN_API_VERSION, engine_error, error};

pub fn ping(m: &Method) -> Response {
    let body = if *m == Method::HEAD { "" } else { "OK" };
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
            (header::PRAGMA, "no-cache"),
            (
                header::HeaderName::from_static("docker-experimental"),
                "false",
            ),
            (header::HeaderName::from_static("builder-version"), "1"),
        ],
        body,
    )
        .into_response()
}

fn uname() -> (String, String) {
    match nix_uname() {
        Some((r, m)) => (r, m),
        None => (String::new(), std::env::consts::ARCH.to_owned()),
    }
}

fn nix_uname() -> Option<(String, String)> {
    // SAFETY: uname fills the zeroed struct; the fields are NUL-terminated C strings.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let s = |f: &[libc::c_char]| {
        let b: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&b).into_owned()
    };
    Some((s(&u.release), s(&u.machine)))
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

pub fn version(_ctx: &Ctx) -> Response {
    let (kernel, _) = uname();
    let v = env!("CARGO_PKG_VERSION");
    crate::json(&json!({
        "Platform": {"Name": "Berth"},
        "Components": [{
            "Name": "Engine",
            "Version": v,
            "Details": {
                "ApiVersion": API_VERSION, "Arch": go_arch(), "BuildTime": "", "Experimental": "false",
                "GitCommit": "", "GoVersion": "", "KernelVersion": kernel, "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
            },
        }],
        "Version": v,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": "linux",
        "Arch": go_arch(),
        "KernelVersion": kernel,
        "BuildTime": "",
    }))
}

fn os_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn mem_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

pub fn info(ctx: &Ctx) -> Response {
    let (kernel, machine) = uname();
    let images = ctx.engine.images.list().map(|l| l.len()).unwrap_or(0);
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for id in ctx.engine.containers.ids().unwrap_or_default() {
        match ctx.engine.containers.state(&id).map(|s| s.status) {
            Ok("running") => running += 1,
            Ok("paused") => paused += 1,
            _ => stopped += 1,
        }
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    let reg = &ctx.engine.config.registry;
    crate::json(&json!({
        "ID": "",
        "Containers": running + paused + stopped, "ContainersRunning": running,
        "ContainersPaused": paused, "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", "overlayfs lower directories"]],
        "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "none"], "Authorization": null, "Log": ["json-file"]},
        "MemoryLimit": true, "SwapLimit": true, "CpuCfsPeriod": true, "CpuCfsQuota": true,
        "CPUShares": true, "CPUSet": true, "PidsLimit": true, "IPv4Forwarding": true,
        "Debug": false, "NFd": 0, "OomKillDisable": false, "NGoroutines": 0,
        "SystemTime": berth_engine::time::now_rfc3339(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": kernel,
        "OperatingSystem": os_release(),
        "OSVersion": "",
        "OSType": "linux",
        "Architecture": machine,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": {
            "InsecureRegistryCIDRs": ["127.0.0.0/8", "::1/128"],
            "IndexConfigs": {},
            "Mirrors": reg.mirrors,
        },
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": ctx.engine.config.data_root.display().to_string(),
        "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
        "Name": hostname,
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": env!("CARGO_PKG_VERSION"),
        "Runtimes": {"berth": {"path": "berth-runtime"}, "runc": {"path": "runc"}, "crun": {"path": "crun"}},
        "DefaultRuntime": "berth",
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": false, "Error": "", "RemoteManagers": null},
        "LiveRestoreEnabled": true,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin", "name=no-new-privileges", "name=cgroupns"],
        "Warnings": null,
    }))
}

/// Read a whole (small) JSON request body.
pub async fn body_json(body: Body) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| error(400, format!("read request body: {e}")))?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| error(400, format!("invalid JSON: {e}")))
}

pub async fn auth(ctx: &Ctx, body: Body) -> Response {
    let v = match body_json(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let user = v["username"].as_str().unwrap_or_default();
    let pass = v["password"].as_str().unwrap_or_default();
    let server = v["serveraddress"].as_str().unwrap_or_default();
    match ctx.engine.auth(server, user, pass).await {
        Ok(()) => crate::json(&json!({"Status": "Login Succeeded", "IdentityToken": ""})),
        Err(e) => engine_error(e),
    }
}

/// Unix seconds from an API time parameter: seconds (fractions allowed) or RFC 3339.
pub(crate) fn api_time(v: &str) -> Option<i64> {
    v.split('.')
        .next()
        .and_then(|s| s.parse::<i64>().ok())
        .or_else(|| berth_engine::time::parse_rfc3339(v))
}

/// `GET /events`: past events from `since`, then live ones until `until` (or the client
/// leaves), filtered.
pub async fn events(ctx: &Ctx) -> Response {
    let filters = match berth_engine::images::parse_filters(ctx.q("filters")) {
        Ok(f) => f,
        Err(e) => return engine_error(e),
    };
    let since = ctx.q("since").and_then(api_time);
    let until = ctx.q("until").and_then(api_time);
    let (past, mut rx) = ctx.engine.events.subscribe(since);
    let (tx, out) = tokio::sync::mpsc::channel::<Value>(256);
    tokio::spawn(async move {
        for ev in past {
            if until.is_some_and(|u| ev["time"].as_i64().unwrap_or(0) > u) {
                continue;
            }
            if berth_engine::events::matches(&ev, &filters) && tx.send(ev).await.is_err() {
                return;
            }
        }
        loop {
            let deadline = until.map(|u| {
                let now = berth_engine::time::now();
                std::time::Duration::from_secs(u.saturating_sub(now).max(0) as u64)
            });
            let next = match deadline {
                Some(d) => match tokio::time::timeout(d, rx.recv()).await {
                    Ok(r) => r,
                    Err(_) => return,
                },
                None => rx.recv().await,
            };
            match next {
                Ok(ev) => {
                    if berth_engine::events::matches(&ev, &filters) && tx.send(ev).await.is_err() {
                        return;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            }
        }
    });
    let body = {
        use futures_util::StreamExt;
        let s = tokio_stream::wrappers::ReceiverStream::new(out).map(|v| {
            let mut b = serde_json::to_vec(&v).unwrap_or_default();
            b.push(b'\n');
            Ok::<_, std::io::Error>(bytes::Bytes::from(b))
        });
        Body::from_stream(s)
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `GET /system/df`: images (with how many containers use them), containers (with the size of
/// their writable layer), no volumes or build cache yet.
pub fn df(ctx: &Ctx) -> Response {
    let e = &ctx.engine;
    let ids = e.containers.ids().unwrap_or_default();
    let mut containers = Vec::new();
    let mut users: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for id in &ids {
        let Ok(mut s) = e.containers.summary(id) else {
            continue;
        };
        let upper = e.containers.dir_of(id).join("upper/");
        s["SizeRw"] = json!(berth_image::snapshot::du(&upper));
        *users
            .entry(s["ImageID"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
        containers.push(s);
    }
    let mut images = Vec::new();
    let mut layers_size = 0u64;
    for img in e.images.list().unwrap_or_default() {
        let mut s = berth_engine::images::summary(&e.images, &img);
        s["Containers"] = json!(users.get(&img.id).copied().unwrap_or(0));
        layers_size += img.size;
        images.push(s);
    }
    // Volumes with their size and how many containers use them (dockerd's UsageData).
    let mut volumes = Vec::new();
    for mut v in e.volumes.list().unwrap_or_default() {
        let name = v["Name"].as_str().unwrap_or_default().to_owned();
        let refs = e
            .containers
            .volume_users(&name)
            .map(|u| u.len())
            .unwrap_or(0);
        v["UsageData"] = json!({"Size": e.volumes.size(&name), "RefCount": refs});
        volumes.push(v);
    }
    crate::json(&json!({
        "LayersSize": layers_size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    }))
}
