//! The HTML pages. Every action is a form posted with the session's CSRF token that answers
//! with a redirect back (so every page works with the keyboard and without scripts); the
//! scripts add live logs, charts that refresh, the console and live events.

mod containers;
mod resources;
mod stacks;

pub use containers::do_action;
pub use resources::{Lines, do_pull};
pub use stacks::projects;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};

use crate::App;
use crate::html::esc;

pub fn routes() -> Router<Arc<App>> {
    containers::routes()
        .merge(resources::routes())
        .merge(stacks::routes())
}

/// Every container, as the list shows them (blocking: call it inside [`blocking`]).
pub fn all_containers(
    e: &berth_engine::Engine,
) -> berth_engine::Result<Vec<berth_models::container::Summary>> {
    let all = berth_engine::containers::inspect::ListOptions {
        all: true,
        ..Default::default()
    };
    e.containers.list(&e.images, &all)
}

/// Run blocking engine work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> berth_engine::Result<T> + Send + 'static,
) -> Result<T, String> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("internal error: {e}")),
    }
}

/// Back to `to` with a message (`ok`) or an error shown on top of the page.
pub fn back(to: &str, r: Result<String, String>) -> Response {
    let (k, v) = match r {
        Ok(m) => ("ok", m),
        Err(e) => ("err", e),
    };
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(k, &v)
        .finish();
    Redirect::to(&format!("{to}?{q}")).into_response()
}

/// The message of a redirect back, as a banner.
pub fn flash(q: &std::collections::HashMap<String, String>) -> String {
    let mut o = String::new();
    if let Some(m) = q.get("ok") {
        o.push_str(&format!(r#"<p class="ok" role="status">{}</p>"#, esc(m)));
    }
    if let Some(m) = q.get("err") {
        o.push_str(&format!(r#"<p class="error" role="alert">{}</p>"#, esc(m)));
    }
    o
}

/// A table from a header and rows of HTML cells.
pub fn table(caption: &str, head: &[&str], rows: &[Vec<String>]) -> String {
    let th: String = head
        .iter()
        .map(|h| format!("<th scope=\"col\">{h}</th>"))
        .collect();
    let body: String = rows
        .iter()
        .map(|r| {
            let tds: String = r.iter().map(|c| format!("<td>{c}</td>")).collect();
            format!("<tr>{tds}</tr>")
        })
        .collect();
    format!(
        r#"<table><caption>{}</caption><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"#,
        esc(caption)
    )
}

/// Bytes for people.
pub fn size(n: i64) -> String {
    berth_units::human_size(n.max(0) as f64)
}

/// Seconds since the epoch, for people (UTC).
pub fn when(secs: i64) -> String {
    berth_units::rfc3339(secs)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}
