//! The dashboard's users and sandboxes (Berth extensions): `/dashboard/users` and
//! `/sandboxes` on the API socket, and the dashboard's own `/api/` answers.

use serde::{Deserialize, Serialize};

/// A dashboard user (never with the password's hash).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub name: String,
    /// `admin`, `operator` or `viewer`.
    pub role: String,
    pub created: String,
}

/// `POST /dashboard/users` (add) and `POST /dashboard/users/{name}/password`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserRequest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    pub password: String,
}

/// A sandbox: a throwaway container of an allowed image, owned by a user, removed when its
/// time is up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Sandbox {
    pub id: String,
    pub name: String,
    pub image: String,
    pub owner: String,
    pub created: String,
    /// Unix seconds when it is removed.
    pub expires: i64,
    pub state: String,
}

/// `POST /sandboxes`: a sandbox of `image` for `owner` (the CLI's: `cli` unless given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SandboxRequest {
    pub image: String,
    #[serde(default)]
    pub owner: String,
    /// Seconds to live (0: the daemon's default; never beyond its maximum).
    #[serde(default)]
    pub ttl: i64,
}
