//! bench/api's load: CLIENTS concurrent Engine API clients for SECONDS against one daemon (Berth's
//! or dockerd, the same requests), each looping over a mix of `GET /containers/json?all=1`,
//! inspect and `stats?stream=0` of the running containers listed in IDS_FILE, and short
//! create → start → wait → remove cycles of IMAGE. Prints per-operation counts, errors and
//! latency percentiles as one JSON object.
//!
//! Usage: berth-load HOST SECONDS CLIENTS IDS_FILE [IMAGE]
//! With `BERTH_LOAD_RATE=R` the clients together offer R operations per second (each client
//! its share, on a fixed schedule), so two daemons can face the same load; without it each
//! client sends its next request as soon as the last is answered.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_client::{Client, Method};
use serde::de::IgnoredAny;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    List,
    Inspect,
    Stats,
    Cycle,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::Inspect => "inspect",
            Op::Stats => "stats",
            Op::Cycle => "create+start+wait+remove",
        }
    }

    /// The mix, out of 10: 3 lists, 4 inspects, 1 stats, 2 cycles.
    fn pick(r: u64) -> Op {
        match r % 10 {
            0..=2 => Op::List,
            3..=6 => Op::Inspect,
            7 => Op::Stats,
            _ => Op::Cycle,
        }
    }
}

/// xorshift64: the load needs cheap, reproducible choices, not good randomness (no crate).
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

#[derive(serde::Deserialize)]
struct Created {
    #[serde(rename = "Id")]
    id: String,
}

async fn cycle(c: &Client, image: &str) -> berth_client::Result<()> {
    let body = serde_json::json!({
        "Image": image,
        "Cmd": ["true"],
        "HostConfig": {"NetworkMode": "none"},
    });
    let created: Created = c.post("/containers/create", &body).await?;
    let id = created.id;
    let steps = async {
        c.send_empty::<IgnoredAny>(Method::POST, &format!("/containers/{id}/start"))
            .await?;
        c.send_empty::<IgnoredAny>(Method::POST, &format!("/containers/{id}/wait"))
            .await?;
        c.send_empty::<IgnoredAny>(Method::DELETE, &format!("/containers/{id}"))
            .await
    };
    let r = steps.await;
    if r.is_err() {
        let _ = c
            .send_empty::<IgnoredAny>(Method::DELETE, &format!("/containers/{id}?force=1"))
            .await;
    }
    r.map(|_| ())
}

async fn one(c: &Client, op: Op, id: &str, image: &str) -> berth_client::Result<()> {
    match op {
        Op::List => c
            .get::<IgnoredAny>("/containers/json?all=1")
            .await
            .map(|_| ()),
        Op::Inspect => c
            .get::<IgnoredAny>(&format!("/containers/{id}/json"))
            .await
            .map(|_| ()),
        Op::Stats => c
            .get::<IgnoredAny>(&format!("/containers/{id}/stats?stream=0"))
            .await
            .map(|_| ()),
        Op::Cycle => cycle(c, image).await,
    }
}

type Sample = (Op, Duration, Option<String>);

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: berth-load HOST SECONDS CLIENTS IDS_FILE [IMAGE]");
        std::process::exit(2);
    }
    let host = args[1].clone();
    let seconds: u64 = args[2].parse().expect("SECONDS");
    let clients: u64 = args[3].parse().expect("CLIENTS");
    let ids: Vec<String> = std::fs::read_to_string(&args[4])
        .expect("IDS_FILE")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(!ids.is_empty(), "IDS_FILE lists no container");
    let image = args.get(5).cloned().unwrap_or_else(|| "busybox".into());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let samples: Vec<Sample> = rt.block_on(async move {
        let mut c = Client::new(&host).expect("host");
        c.negotiate().await.expect("ping");
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let rate: Option<f64> = std::env::var("BERTH_LOAD_RATE")
            .ok()
            .and_then(|r| r.parse().ok())
            .filter(|r: &f64| *r > 0.0);
        let interval = rate.map(|r| Duration::from_secs_f64(clients as f64 / r));
        let mut tasks = Vec::new();
        for n in 0..clients {
            let (c, ids, image) = (c.clone(), ids.clone(), image.clone());
            tasks.push(tokio::spawn(async move {
                let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (n + 1).wrapping_mul(0x1000_0001);
                let mut out = Vec::new();
                // Clients start spread over one interval, not all at once.
                let mut due = tokio::time::Instant::now()
                    + interval.map_or(Duration::ZERO, |i| i.mul_f64(n as f64 / clients as f64));
                while Instant::now() < deadline {
                    if let Some(i) = interval {
                        tokio::time::sleep_until(due).await;
                        due += i;
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                    let op = Op::pick(next(&mut seed));
                    let id = &ids[(next(&mut seed) % ids.len() as u64) as usize];
                    let t = Instant::now();
                    let r = one(&c, op, id, &image).await;
                    out.push((op, t.elapsed(), r.err().map(|e| e.to_string())));
                }
                out
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        all
    });
    let mut by_op: BTreeMap<Op, (Vec<Duration>, u64)> = BTreeMap::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    for (op, d, e) in samples {
        let entry = by_op.entry(op).or_default();
        entry.0.push(d);
        if let Some(e) = e {
            entry.1 += 1;
            *errors.entry(format!("{}: {e}", op.name())).or_default() += 1;
        }
    }
    let mut ops = serde_json::Map::new();
    for (op, (mut d, errs)) in by_op {
        d.sort();
        ops.insert(
            op.name().into(),
            serde_json::json!({
                "count": d.len(),
                "errors": errs,
                "p50_ms": percentile(&d, 0.50),
                "p99_ms": percentile(&d, 0.99),
            }),
        );
    }
    let errors: serde_json::Map<String, serde_json::Value> =
        errors.into_iter().map(|(k, v)| (k, v.into())).collect();
    println!(
        "{}",
        serde_json::json!({"ops": ops, "errors": errors, "seconds": seconds, "clients": clients})
    );
}
