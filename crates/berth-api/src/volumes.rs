//! `/volumes/…`: create, list, inspect, remove, prune.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::containers::blocking;
use crate::{Ctx, engine_error, error, json};

pub async fn route(ctx: &Ctx, m: &Method, tail: &str, body: Body) -> Response {
    let e = ctx.engine.clone();
    let filters = match berth_engine::images::parse_filters(ctx.q("filters")) {
        Ok(f) => f,
        Err(err) => return engine_error(err),
    };
    let r = match (m, tail.trim_end_matches('/')) {
        (&Method::GET, "") => {
            blocking(move || {
                let mut out = Vec::new();
                for v in e.volumes.list()? {
                    let name = v["Name"].as_str().unwrap_or_default().to_owned();
                    if matches(&v, &filters, &|| {
                        e.containers
                            .volume_users(&name)
                            .map(|u| u.is_empty())
                            .unwrap_or(false)
                    }) {
                        out.push(v);
                    }
                }
                Ok(json!({"Volumes": out, "Warnings": null}))
            })
            .await
        }
        (&Method::POST, "create") => {
            let v = match crate::system::body_json(body).await {
                Ok(v) => v,
                Err(r) => return r,
            };
            return match blocking(move || e.volumes.create(&v)).await {
                Ok(v) => (
                    StatusCode::CREATED,
                    [(header::CONTENT_TYPE, "application/json")],
                    v.to_string(),
                )
                    .into_response(),
                Err(r) => r,
            };
        }
        (&Method::POST, "prune") => {
            // Anonymous volumes only, unless `all=true` (API 1.42 and later, as dockerd).
            let all = filters
                .iter()
                .any(|(k, v)| k == "all" && (v == "true" || v == "1"));
            blocking(move || {
                let mut gone = Vec::new();
                let mut freed = 0;
                for v in e.volumes.list()? {
                    let name = v["Name"].as_str().unwrap_or_default().to_owned();
                    let anonymous = v["Labels"][berth_engine::volumes::ANONYMOUS].is_string();
                    if !all && !anonymous {
                        continue;
                    }
                    let label_ok = matches(&v, &filters, &|| true);
                    if !label_ok || !e.containers.volume_users(&name)?.is_empty() {
                        continue;
                    }
                    freed += e.volumes.size(&name);
                    e.volumes.remove(&name, &[])?;
                    gone.push(name);
                }
                Ok(json!({
                    "VolumesDeleted": if gone.is_empty() { Value::Null } else { json!(gone) },
                    "SpaceReclaimed": freed,
                }))
            })
            .await
        }
        (&Method::DELETE, name) => {
            let name = name.to_owned();
            let force = ctx.flag("force");
            return match blocking(move || {
                if force && e.volumes.find(&name)?.is_none() {
                    return Ok(());
                }
                let users = e.containers.volume_users(&name)?;
                e.volumes.remove(&name, &users)
            })
            .await
            {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(r) => r,
            };
        }
        (&Method::GET, name) => {
            let name = name.to_owned();
            blocking(move || e.volumes.get(&name)).await
        }
        _ => return error(404, "page not found"),
    };
    match r {
        Ok(v) => json(&v),
        Err(r) => r,
    }
}

/// Docker's volume filters: `name` (substring), `label` (`k` or `k=v`), `driver`,
/// `dangling` (unused by any container); `all` is prune's.
fn matches(v: &Value, filters: &[(String, String)], dangling: &dyn Fn() -> bool) -> bool {
    let mut keys: Vec<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.dedup();
    keys.into_iter().all(|k| {
        filters
            .iter()
            .filter(|(fk, _)| fk == k)
            .any(|(_, val)| match k {
                "name" => v["Name"].as_str().is_some_and(|n| n.contains(val.as_str())),
                "driver" => v["Driver"] == val.as_str(),
                "label" => {
                    let (lk, lv) = val.split_once('=').unwrap_or((val, ""));
                    v["Labels"][lk]
                        .as_str()
                        .is_some_and(|x| lv.is_empty() || x == lv)
                }
                "dangling" => (val == "true" || val == "1") == dangling(),
                "all" => true,
                _ => false,
            })
    })
}
