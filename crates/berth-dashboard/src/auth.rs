//! Sign-in and sessions. A session is a random token in a `Secure; HttpOnly; SameSite=Strict`
//! cookie, ended by sign-out, by `session_timeout` without a request, or after 12 hours. Every
//! request but a GET must carry the session's CSRF token (the form field `csrf` or the header
//! `X-CSRF-Token`); the sign-in form carries one too (tied to a pre-session cookie). Failed
//! sign-ins are counted per user name and per client address: after `login_attempts` the next
//! tries wait. The user's role is read at each request (a removed user is signed out at once).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use berth_engine::users::Role;

use crate::html::{esc, page_bare};
use crate::{App, Client};

const COOKIE: &str = "berth_session";
const LOGIN_COOKIE: &str = "berth_login";
const MAX_AGE: Duration = Duration::from_secs(12 * 3600);
const PAUSE: Duration = Duration::from_secs(60);

/// A random token (hex) from the kernel's generator.
pub fn token() -> String {
    let mut b = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok();
    // Without randomness no token may be handed out at all.
    assert!(ok, "/dev/urandom is unreadable: no session can be made");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compare secrets in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

struct Session {
    user: String,
    csrf: String,
    created: Instant,
    last: Instant,
}

pub struct Sessions {
    timeout: Duration,
    map: Mutex<HashMap<String, Session>>,
}

/// The signed-in user of a request (an extension the middleware adds).
#[derive(Debug, Clone)]
pub struct User {
    pub name: String,
    pub role: Role,
    pub csrf: String,
}

impl Sessions {
    pub fn new(timeout: Duration) -> Sessions {
        Sessions {
            timeout,
            map: Mutex::default(),
        }
    }

    fn start(&self, user: &str) -> String {
        let t = token();
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        m.retain(|_, s| now - s.last < self.timeout && now - s.created < MAX_AGE);
        m.insert(
            t.clone(),
            Session {
                user: user.to_owned(),
                csrf: token(),
                created: now,
                last: now,
            },
        );
        t
    }

    /// The session's user and CSRF token, if it is live (and then its clock restarts).
    fn touch(&self, t: &str) -> Option<(String, String)> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let s = m.get_mut(t)?;
        if now - s.last >= self.timeout || now - s.created >= MAX_AGE {
            m.remove(t);
            return None;
        }
        s.last = now;
        Some((s.user.clone(), s.csrf.clone()))
    }

    /// A request of the session just ended: it was activity until now (however long it took).
    fn keep(&self, t: &str) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.get_mut(t) {
            s.last = Instant::now();
        }
    }

    fn end(&self, t: &str) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(t);
    }
}

#[derive(Default)]
struct Failures {
    count: u32,
    until: Option<Instant>,
}

/// Failed sign-ins by user name and by client address.
pub struct Throttle {
    attempts: u32,
    map: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    pub fn new(attempts: u32) -> Throttle {
        Throttle {
            attempts,
            map: Mutex::default(),
        }
    }

    /// Seconds to wait before `keys` may try again (0: now).
    fn wait(&self, keys: &[String]) -> u64 {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        keys.iter()
            .filter_map(|k| m.get(k)?.until)
            .filter(|u| *u > now)
            .map(|u| (u - now).as_secs() + 1)
            .max()
            .unwrap_or(0)
    }

    fn failed(&self, keys: &[String]) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() > 10_000 {
            let now = Instant::now();
            m.retain(|_, f| f.until.is_some_and(|u| u > now));
        }
        for k in keys {
            let f = m.entry(k.clone()).or_default();
            f.count += 1;
            if f.count >= self.attempts {
                f.count = 0;
                f.until = Some(Instant::now() + PAUSE);
            }
        }
    }

    fn succeeded(&self, keys: &[String]) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for k in keys {
            m.remove(k);
        }
    }
}

pub fn cookie(h: &HeaderMap, name: &str) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn set_cookie(name: &str, value: &str, max_age: Option<u64>) -> String {
    let age = max_age.map_or(String::new(), |a| format!("; Max-Age={a}"));
    format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Strict{age}")
}

pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
}

fn login_form(csrf: &str, message: &str) -> String {
    let msg = if message.is_empty() {
        String::new()
    } else {
        format!(r#"<p class="error" role="alert">{}</p>"#, esc(message))
    };
    format!(
        r#"<main class="login"><h1>Berth</h1>{msg}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}">
<label>User name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form></main>"#,
        csrf = esc(csrf)
    )
}

/// The form, with a fresh pre-session token (cookie and field must match on the post).
async fn login_page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie(&headers, COOKIE) {
        if app.sessions.touch(&t).is_some() {
            return Redirect::to("/").into_response();
        }
    }
    let csrf = token();
    (
        [(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, &csrf, Some(3600)),
        )],
        page_bare("Sign in", &login_form(&csrf, "")),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let csrf = token();
    (
        status,
        [(
            header::SET_COOKIE,
            set_cookie(LOGIN_COOKIE, &csrf, Some(3600)),
        )],
        page_bare("Sign in", &login_form(&csrf, message)),
    )
        .into_response()
}

async fn login(
    State(app): State<Arc<App>>,
    axum::Extension(client): axum::Extension<Client>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let f: LoginForm = match serde_urlencoded_form(&body) {
        Some(f) => f,
        None => return refuse(StatusCode::BAD_REQUEST, "The sign-in form was malformed."),
    };
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if f.csrf.is_empty() || expected.is_empty() || !same(&f.csrf, &expected) {
        return refuse(
            StatusCode::FORBIDDEN,
            "The form's CSRF token is missing or wrong: reload the page and sign in again.",
        );
    }
    let keys = vec![
        format!("user:{}", f.username),
        format!("addr:{}", client.0.ip()),
    ];
    let wait = app.throttle.wait(&keys);
    if wait > 0 {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins: try again in {wait} seconds."),
        );
    }
    let (e, name, pw) = (app.engine.clone(), f.username.clone(), f.password);
    let verified = tokio::task::spawn_blocking(move || e.users.verify(&name, &pw))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    match verified {
        Some((user, _)) => {
            app.throttle.succeeded(&keys);
            let t = app.sessions.start(&user.name);
            tracing::info!("dashboard: {} signed in from {}", user.name, client.0.ip());
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(COOKIE, &t, None)
                    .parse()
                    .expect("a cookie header"),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(LOGIN_COOKIE, "", Some(0))
                    .parse()
                    .expect("a cookie header"),
            );
            r
        }
        None => {
            app.throttle.failed(&keys);
            tracing::info!(
                "dashboard: failed sign-in as {:?} from {}",
                f.username,
                client.0.ip()
            );
            refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password.")
        }
    }
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(t) = cookie(&headers, COOKIE) {
        app.sessions.end(&t);
    }
    (
        [(header::SET_COOKIE, set_cookie(COOKIE, "", Some(0)))],
        Redirect::to("/login"),
    )
        .into_response()
}

/// A `application/x-www-form-urlencoded` body as `T`.
pub fn serde_urlencoded_form<T: serde::de::DeserializeOwned>(body: &str) -> Option<T> {
    let map: serde_json::Map<String, serde_json::Value> =
        url::form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
            .collect();
    serde_json::from_value(serde_json::Value::Object(map)).ok()
}

/// The form field `csrf` of a urlencoded body, if any.
fn form_csrf(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.into_owned())
}

fn wants_json(req: &Request) -> bool {
    req.uri().path().starts_with("/api/")
}

fn denied(json: bool, status: StatusCode, message: &str) -> Response {
    if json {
        (
            status,
            axum::Json(serde_json::json!({ "message": message })),
        )
            .into_response()
    } else {
        (status, page_bare("Refused", &format!(r#"<main><p class="error" role="alert">{}</p><p><a href="/">Back</a></p></main>"#, esc(message)))).into_response()
    }
}

/// Every route but sign-in and assets: a live session, the CSRF token on anything but a GET,
/// and a role that may act on anything that acts.
pub async fn require_session(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let json = wants_json(&req);
    let token = cookie(req.headers(), COOKIE);
    let live = token.as_deref().and_then(|t| app.sessions.touch(t));
    let Some((name, csrf)) = live else {
        return if json || req.method() != Method::GET {
            denied(
                json,
                StatusCode::UNAUTHORIZED,
                "sign in first (no session, or it expired)",
            )
        } else {
            Redirect::to("/login").into_response()
        };
    };
    let e = app.engine.clone();
    let n = name.clone();
    let role = match tokio::task::spawn_blocking(move || e.users.role(&n)).await {
        Ok(Ok(Some(r))) => r,
        _ => return denied(json, StatusCode::UNAUTHORIZED, "your user no longer exists"),
    };
    let user = User {
        name,
        role,
        csrf: csrf.clone(),
    };
    let (mut parts, body) = req.into_parts();
    let reading = matches!(parts.method, Method::GET | Method::HEAD);
    let body = if reading {
        body
    } else {
        let bytes = match axum::body::to_bytes(body, 1 << 20).await {
            Ok(b) => b,
            Err(_) => {
                return denied(
                    json,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the request is too large",
                );
            }
        };
        let given = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| form_csrf(&bytes));
        if !given.is_some_and(|g| same(&g, &csrf)) {
            return denied(json, StatusCode::FORBIDDEN, "CSRF token missing or wrong");
        }
        if !user.role.can_act() {
            return denied(
                json,
                StatusCode::FORBIDDEN,
                &format!("{} is a viewer: viewers cannot change anything", user.name),
            );
        }
        axum::body::Body::from(bytes)
    };
    let audited = (!reading).then(|| {
        (
            parts.method.to_string(),
            parts.uri.path().to_owned(),
            parts
                .extensions
                .get::<Client>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default(),
        )
    });
    let who = user.name.clone();
    parts.extensions.insert(user);
    let r = next.run(Request::from_parts(parts, body)).await;
    // Every change made through the dashboard is in the API audit log too, with its user.
    if let Some((method, path, addr)) = audited {
        let target = path
            .trim_start_matches("/api")
            .split('/')
            .filter(|s| !s.is_empty())
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let redirect_err = r
            .headers()
            .get(header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .and_then(|l| l.split_once("?err="))
            .map(|(_, e)| {
                url::form_urlencoded::parse(format!("e={e}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            });
        let entry = berth_engine::audit_log::Request {
            uid: u32::MAX,
            gid: u32::MAX,
            pid: 0,
            method,
            path: format!("dashboard:{path}"),
            target,
            status: r.status().as_u16(),
            error: redirect_err.unwrap_or_default(),
            user: format!("{who}@{addr}"),
        };
        let e = app.engine.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Err(err) = e.audit.append(entry) {
                tracing::error!("audit log: {err}");
            }
        })
        .await;
    }
    // A request that took long (a stop waits for its container) was activity throughout.
    if let Some(t) = token {
        app.sessions.keep(&t);
    }
    r
}
