//! BuildKit's gRPC front for Berth's builder: what buildx's `docker` driver (and so Compose
//! v2 and `docker buildx build`) speaks to a daemon — the control API on `POST /grpc`
//! (`ListWorkers`, `Info`, `Solve`, `Status`, `DiskUsage`, `Prune`), the gateway
//! (`LLBBridge`: `Ping`, `Solve` of the `dockerfile.v0` frontend, `Return`) and the client's
//! session on `POST /session` (the context and Dockerfile by fsutil's `DiffCopy`, secrets).
//! Builds run on Berth's own builder; LLB definitions and other frontends are refused clearly.

pub mod grpc;
mod jobs;
pub mod proto;
pub mod session;
pub mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_engine::Engine;
use tonic::Status;

use crate::grpc::{Req, Resp};
use crate::jobs::Job;
use crate::proto::*;
use crate::session::Session;

/// The daemon's BuildKit front: attached sessions and builds in flight.
pub struct Frontend {
    engine: Arc<Engine>,
    sessions: Mutex<HashMap<String, Session>>,
    jobs: Mutex<HashMap<String, Arc<Job>>>,
}

const BUILD_ID: &str = "buildkit-controlapi-buildid";

fn build_id<T>(r: &tonic::Request<T>) -> Result<String, Status> {
    r.metadata()
        .get(BUILD_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| Status::invalid_argument(format!("no {BUILD_ID} in the call's metadata")))
}

fn platform() -> Platform {
    let architecture = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    };
    Platform {
        architecture: architecture.into(),
        os: "linux".into(),
        variant: String::new(),
    }
}

fn version() -> BuildkitVersion {
    BuildkitVersion {
        package: "berth".into(),
        version: format!("v{}", env!("CARGO_PKG_VERSION")),
        revision: String::new(),
    }
}

fn worker() -> WorkerRecord {
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    WorkerRecord {
        id: "berth".into(),
        labels: HashMap::from([
            (
                "org.mobyproject.buildkit.worker.executor".into(),
                "berth".into(),
            ),
            (
                "org.mobyproject.buildkit.worker.hostname".into(),
                hostname.trim().to_owned(),
            ),
        ]),
        platforms: vec![platform()],
        buildkit_version: Some(version()),
    }
}

/// The gateway capabilities Berth has (the rest are reported missing, so clients fall back).
fn caps() -> Vec<ApiCap> {
    [
        "solve.base",
        "return",
        "returnmap",
        "proto.refarray",
        "importcaches",
        "frontend.inputs",
        "gateway.warnings",
    ]
    .iter()
    .map(|id| ApiCap {
        id: (*id).into(),
        enabled: true,
        ..Default::default()
    })
    .collect()
}

impl Frontend {
    pub fn new(engine: Arc<Engine>) -> Arc<Frontend> {
        Arc::new(Frontend {
            engine,
            sessions: Mutex::new(HashMap::new()),
            jobs: Mutex::new(HashMap::new()),
        })
    }

    /// Serve the control API on a connection hijacked from `POST /grpc`.
    pub async fn serve<IO>(self: Arc<Self>, io: IO)
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        grpc::serve(io, move |req| {
            let me = self.clone();
            async move { me.handle(req).await }
        })
        .await;
    }

    /// Keep a session hijacked from `POST /session` (the client serves on it) until it closes.
    pub async fn attach<IO>(self: Arc<Self>, io: IO, id: String, methods: Vec<String>)
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let Ok((h2, conn)) = grpc::connect(io).await else {
            return;
        };
        if let Ok(mut s) = self.sessions.lock() {
            s.insert(id.clone(), Session { h2, methods });
        }
        conn.await;
        if let Ok(mut s) = self.sessions.lock() {
            s.remove(&id);
        }
    }

    fn session_now(&self, id: &str) -> Option<Session> {
        self.sessions.lock().ok()?.get(id).cloned()
    }

    /// The session `id`, waiting a little for it: the client dials it beside its `Solve`.
    async fn session(&self, id: &str) -> Result<Session, Status> {
        for _ in 0..500 {
            if let Some(s) = self.session_now(id) {
                return Ok(s);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(Status::failed_precondition(format!(
            "no active session for {id}: the client's session did not attach"
        )))
    }

    /// The build `id`, waiting a little for its `Solve` to register it.
    async fn job(&self, id: &str) -> Result<Arc<Job>, Status> {
        for _ in 0..1500 {
            if let Some(j) = self.jobs.lock().ok().and_then(|j| j.get(id).cloned()) {
                return Ok(j);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(Status::not_found(format!("no build {id}")))
    }

    async fn handle(self: Arc<Self>, req: Req) -> Resp {
        let path = req.uri().path().to_owned();
        let me = self.clone();
        match path.as_str() {
            "/moby.buildkit.v1.Control/ListWorkers" => {
                grpc::unary(req, |_: tonic::Request<ListWorkersRequest>| async {
                    Ok(ListWorkersResponse {
                        record: vec![worker()],
                    })
                })
                .await
            }
            "/moby.buildkit.v1.Control/Info" => {
                grpc::unary(req, |_: tonic::Request<InfoRequest>| async {
                    Ok(InfoResponse {
                        buildkit_version: Some(version()),
                    })
                })
                .await
            }
            "/moby.buildkit.v1.Control/Solve" => {
                grpc::unary(req, move |r: tonic::Request<SolveRequest>| async move {
                    me.solve(r.into_inner()).await
                })
                .await
            }
            "/moby.buildkit.v1.Control/Status" => {
                grpc::server_streaming(req, move |r: tonic::Request<StatusRequest>| async move {
                    let job = me.job(&r.get_ref().r#ref).await?;
                    Ok(job.progress.subscribe())
                })
                .await
            }
            "/moby.buildkit.v1.Control/DiskUsage" => {
                grpc::unary(req, |_: tonic::Request<DiskUsageRequest>| async {
                    Ok(DiskUsageResponse::default())
                })
                .await
            }
            "/moby.buildkit.v1.Control/Prune" => {
                grpc::server_streaming(req, move |r: tonic::Request<PruneRequest>| async move {
                    me.prune(r.into_inner()).await
                })
                .await
            }
            "/moby.buildkit.v1.frontend.LLBBridge/Ping" => {
                grpc::unary(req, |_: tonic::Request<PingRequest>| async {
                    Ok(PongResponse {
                        frontend_api_caps: caps(),
                        llb_caps: Vec::new(),
                        workers: vec![worker()],
                    })
                })
                .await
            }
            "/moby.buildkit.v1.frontend.LLBBridge/Solve" => {
                grpc::unary(req, move |r: tonic::Request<GwSolveRequest>| async move {
                    let id = build_id(&r)?;
                    me.gateway_solve(&id, r.into_inner()).await
                })
                .await
            }
            "/moby.buildkit.v1.frontend.LLBBridge/Return" => {
                grpc::unary(req, move |r: tonic::Request<ReturnRequest>| async move {
                    let id = build_id(&r)?;
                    let job = me.job(&id).await?;
                    job.returned(r.into_inner());
                    Ok(ReturnResponse {})
                })
                .await
            }
            "/moby.buildkit.v1.frontend.LLBBridge/Evaluate" => {
                grpc::unary(req, |_: tonic::Request<EvaluateRequest>| async {
                    Ok(EvaluateResponse {})
                })
                .await
            }
            "/moby.buildkit.v1.frontend.LLBBridge/Warn" => {
                grpc::unary(req, move |r: tonic::Request<WarnRequest>| async move {
                    let id = build_id(&r)?;
                    let job = me.job(&id).await?;
                    let w = r.into_inner();
                    let s = job.progress.start("[internal] frontend warning");
                    job.progress.warn(&s, &String::from_utf8_lossy(&w.short));
                    job.progress.complete(&s, false, "");
                    Ok(WarnResponse {})
                })
                .await
            }
            p => grpc::unimplemented(p),
        }
    }

    async fn prune(&self, r: PruneRequest) -> Result<grpc::Out<UsageRecord>, Status> {
        let until = (r.keep_duration > 0).then(|| format!("{}s", r.keep_duration / 1_000_000_000));
        let keep = r.reserved_space.max(0) as u64;
        let e = self.engine.clone();
        tokio::task::spawn_blocking(move || e.build_prune(keep, until.as_deref(), r.all))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::unknown(e.to_string()))?;
        let (_tx, rx) = tokio::sync::mpsc::channel(1);
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx))
    }
}
