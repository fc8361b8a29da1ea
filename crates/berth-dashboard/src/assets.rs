//! The dashboard's CSS and scripts, built into the binary (no CDN, no third-party code).

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::App;

const CSS: &str = include_str!("../assets/app.css");
const APP: &str = include_str!("../assets/app.js");
const TERM: &str = include_str!("../assets/term.js");

fn asset(body: &'static str, kind: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route(
            "/assets/app.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset(APP, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/term.js",
            get(|| async { asset(TERM, "text/javascript; charset=utf-8") }),
        )
}
