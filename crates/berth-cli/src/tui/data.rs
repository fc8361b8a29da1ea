//! The TUI's data, fetched on a runtime of its own: the lists (again whenever `/events` says
//! something changed — no polling of lists), the selected container's logs and stats as
//! streams, its inspect and processes, actions. Everything arrives as [`Msg`]s; a daemon that
//! goes away is retried each second and the lists come back when it does.

use std::sync::mpsc::Sender;
use std::time::Duration;

use berth_client::{Client, Method, query};
use berth_models::container::Summary;
use berth_models::network::Network;
use tokio::task::JoinHandle;

/// What the workers tell the screen.
pub enum Msg {
    Input(crossterm::event::Event),
    Lists(Box<Lists>),
    /// The daemon cannot be reached (why); the lists keep their last state.
    Down(String),
    Log(String, String),
    Stats(String, f64, u64, u64),
    Inspect(String, serde_json::Value),
    Top(String, Vec<String>),
    Status(String),
}

#[derive(Default)]
pub struct Lists {
    pub containers: Vec<Summary>,
    pub images: Vec<berth_models::image::Summary>,
    pub volumes: Vec<berth_models::volume::Volume>,
    pub networks: Vec<Network>,
}

/// The workers' side: a client and the screen's channel.
#[derive(Clone)]
pub struct Data {
    pub client: Client,
    pub tx: Sender<Msg>,
    refresh: tokio::sync::mpsc::UnboundedSender<()>,
}

async fn lists(c: &Client) -> berth_client::Result<Lists> {
    let containers: Vec<Summary> = c.get("/containers/json?all=1").await?;
    let images = c.get("/images/json").await?;
    let volumes: berth_models::volume::ListResponse = c.get("/volumes").await?;
    let networks = c.get("/networks").await?;
    Ok(Lists {
        containers,
        images,
        volumes: volumes.volumes,
        networks,
    })
}

impl Data {
    /// Start the list and event workers on `rt`.
    pub fn start(rt: &tokio::runtime::Runtime, client: Client, tx: Sender<Msg>) -> Data {
        let (refresh, mut want) = tokio::sync::mpsc::unbounded_channel::<()>();
        let d = Data {
            client,
            tx,
            refresh,
        };
        // Lists: at start and after changes (coalesced: one fetch for a burst of events).
        let me = d.clone();
        rt.spawn(async move {
            loop {
                match lists(&me.client).await {
                    Ok(l) => {
                        let _ = me.tx.send(Msg::Lists(Box::new(l)));
                    }
                    Err(e) => {
                        let _ = me.tx.send(Msg::Down(crate::describe(&e.into())));
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                if want.recv().await.is_none() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                while want.try_recv().is_ok() {}
            }
        });
        // Events: each one asks for the lists again; a lost stream is reopened.
        let me = d.clone();
        rt.spawn(async move {
            loop {
                let since = berth_units::now().to_string();
                let r = me
                    .client
                    .lines(
                        Method::GET,
                        &format!("/events{}", query(&[("since", &since)])),
                        &[],
                        berth_client::empty(),
                        |_: serde_json::Value| {
                            let _ = me.refresh.send(());
                            Ok(())
                        },
                    )
                    .await;
                if let Err(e) = r {
                    let _ = me.tx.send(Msg::Down(crate::describe(&e.into())));
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
                let _ = me.refresh.send(());
            }
        });
        d
    }

    /// The selected container's streams and facts (until the handles are aborted).
    pub fn follow(&self, rt: &tokio::runtime::Runtime, id: &str) -> Vec<JoinHandle<()>> {
        let mut out = Vec::new();
        let (me, cid) = (self.clone(), id.to_owned());
        out.push(rt.spawn(async move {
            let mut demux = berth_client::Demux::default();
            let path = format!("/containers/{cid}/logs?stdout=1&stderr=1&follow=1&tail=300");
            let tty = me
                .client
                .get::<serde_json::Value>(&format!("/containers/{cid}/json"))
                .await
                .map(|v| {
                    let _ = me.tx.send(Msg::Inspect(cid.clone(), v.clone()));
                    v["Config"]["Tty"].as_bool().unwrap_or(false)
                })
                .unwrap_or(false);
            let _ = me
                .client
                .raw_stream(Method::GET, &path, |b| {
                    if tty {
                        let _ = me.tx.send(Msg::Log(
                            cid.clone(),
                            String::from_utf8_lossy(b).into_owned(),
                        ));
                    } else {
                        demux.push(b, |_, d| {
                            let _ = me.tx.send(Msg::Log(
                                cid.clone(),
                                String::from_utf8_lossy(d).into_owned(),
                            ));
                        });
                    }
                })
                .await;
        }));
        let (me, cid) = (self.clone(), id.to_owned());
        out.push(rt.spawn(async move {
            let _ = me
                .client
                .lines(
                    Method::GET,
                    &format!("/containers/{cid}/stats"),
                    &[],
                    berth_client::empty(),
                    |s: berth_models::stats::Stats| {
                        let row = crate::stats::stats_row(&s, true);
                        let cpu = row.cpu_perc.trim_end_matches('%').parse().unwrap_or(0.0);
                        let _ = me.tx.send(Msg::Stats(
                            cid.clone(),
                            cpu,
                            s.memory_stats.usage,
                            s.memory_stats.limit,
                        ));
                        Ok(())
                    },
                )
                .await;
        }));
        let (me, cid) = (self.clone(), id.to_owned());
        out.push(rt.spawn(async move {
            loop {
                if let Ok(t) = me
                    .client
                    .get::<berth_models::container::Top>(&format!("/containers/{cid}/top"))
                    .await
                {
                    let mut lines = vec![t.titles.join("  ")];
                    lines.extend(t.processes.iter().map(|p| p.join("  ")));
                    let _ = me.tx.send(Msg::Top(cid.clone(), lines));
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }));
        out
    }

    /// An action on a container (`stop`, `restart`, `pause`, `unpause`, `remove`, `start`,
    /// `kill`); its outcome on the status line.
    pub fn act(&self, rt: &tokio::runtime::Handle, id: &str, name: &str, what: &str) {
        let (me, id, name, what) = (
            self.clone(),
            id.to_owned(),
            name.to_owned(),
            what.to_owned(),
        );
        let _ = me.tx.send(Msg::Status(format!("{what} {name}…")));
        rt.spawn(async move {
            let (m, path) = match what.as_str() {
                "remove" => (Method::DELETE, format!("/containers/{id}?force=1")),
                w => (Method::POST, format!("/containers/{id}/{w}")),
            };
            let r = me.client.send_empty::<()>(m, &path).await;
            let _ = me.tx.send(Msg::Status(match r {
                Ok(()) => format!("{what} {name}: done"),
                Err(e) => format!("{what} {name}: {}", crate::describe(&e.into())),
            }));
        });
    }

    /// Remove an image, volume or network by name or id.
    pub fn remove(&self, rt: &tokio::runtime::Handle, kind: &str, name: &str) {
        let (me, kind, name) = (self.clone(), kind.to_owned(), name.to_owned());
        rt.spawn(async move {
            let path = format!("/{kind}/{}", berth_client::enc(&name));
            let r = me
                .client
                .send_empty::<serde_json::Value>(Method::DELETE, &path)
                .await;
            let _ = me.tx.send(Msg::Status(match r {
                Ok(_) => format!("removed {name}"),
                Err(e) => format!("remove {name}: {}", crate::describe(&e.into())),
            }));
            let _ = me.refresh.send(());
        });
    }
}
