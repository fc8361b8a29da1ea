//! Swarm mode and plugins, which Berth does not have: answered as a dockerd that is not part
//! of a swarm and has no plugins answers (`503` with its messages; an empty plugin list), so
//! clients that probe them (docker-py's tear-downs, `docker info`) go on.

use axum::http::{Method, StatusCode};
use axum::response::Response;

use crate::respond::{error, json};

const NOT_PART: &str = "This node is not part of a swarm";
const NOT_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again.";

/// The answer for `path` if it is a swarm or plugin endpoint.
pub fn route(m: &Method, path: &str) -> Option<Response> {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    match first {
        "swarm" => Some(match (m, path) {
            (&Method::POST, "/swarm/leave") => error(StatusCode::SERVICE_UNAVAILABLE, NOT_PART),
            (&Method::POST, "/swarm/init" | "/swarm/join") => error(
                StatusCode::SERVICE_UNAVAILABLE,
                "swarm mode is not supported by Berth: this node cannot init or join a swarm",
            ),
            _ => error(StatusCode::SERVICE_UNAVAILABLE, NOT_MANAGER),
        }),
        "nodes" | "services" | "tasks" | "secrets" | "configs" => {
            Some(error(StatusCode::SERVICE_UNAVAILABLE, NOT_MANAGER))
        }
        "plugins" => Some(match (m, path) {
            (&Method::GET, "/plugins") => json(&Vec::<serde_json::Value>::new()),
            (_, p) if p.ends_with("/json") || m == Method::DELETE => {
                let name = p
                    .trim_start_matches("/plugins/")
                    .trim_end_matches("/json")
                    .to_owned();
                error(
                    StatusCode::NOT_FOUND,
                    format!("plugin \"{name}\" not found"),
                )
            }
            _ => error(
                StatusCode::NOT_IMPLEMENTED,
                "plugins are not supported by Berth",
            ),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swarm_and_plugins_answer_as_a_dockerd_outside_a_swarm() {
        let s = |m: Method, p: &str| route(&m, p).map(|r| r.status().as_u16());
        assert_eq!(s(Method::POST, "/swarm/leave"), Some(503));
        assert_eq!(s(Method::GET, "/swarm"), Some(503));
        assert_eq!(s(Method::GET, "/nodes"), Some(503));
        assert_eq!(s(Method::GET, "/services/x"), Some(503));
        assert_eq!(s(Method::GET, "/plugins"), Some(200));
        assert_eq!(s(Method::GET, "/plugins/foo/json"), Some(404));
        assert_eq!(s(Method::POST, "/plugins/pull"), Some(501));
        assert_eq!(s(Method::GET, "/containers/json"), None);
        assert_eq!(s(Method::GET, "/swarmy"), None);
    }
}
