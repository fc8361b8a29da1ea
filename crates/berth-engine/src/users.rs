//! The dashboard's users: a name, a role and an argon2id password hash (PHC string), in table
//! `users` of berth.db. Roles: `admin` (everything, users too), `operator` (everything but
//! users), `viewer` (reads only: no action, no console, no sandbox).

use std::sync::Mutex;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use berth_models::dashboard::User;

use crate::db;
use crate::{Error, Result};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, role TEXT NOT NULL, hash TEXT NOT NULL, created TEXT NOT NULL);";

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role> {
        match s {
            "admin" => Ok(Role::Admin),
            "operator" => Ok(Role::Operator),
            "viewer" => Ok(Role::Viewer),
            o => Err(Error::InvalidParameter(format!(
                "invalid role {o:?}: admin, operator or viewer"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    /// Start, stop, remove, create, pull, deploy, open consoles and sandboxes.
    pub fn can_act(self) -> bool {
        self >= Role::Operator
    }
}

pub struct Users {
    db: Mutex<rusqlite::Connection>,
}

/// At least this long.
pub const MIN_PASSWORD: usize = 8;

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidParameter(format!(
            "invalid user name {name:?}: 1 to 64 of a-z, A-Z, 0-9, _ . -"
        )))
    }
}

fn hash(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(Error::InvalidParameter(format!(
            "the password is too short: at least {MIN_PASSWORD} characters"
        )));
    }
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hash a password: {e}")))
}

impl Users {
    pub fn open(data_root: &std::path::Path) -> Result<Users> {
        Ok(Users {
            db: db::open(data_root, SCHEMA)?,
        })
    }

    pub fn add(&self, name: &str, role: &str, password: &str) -> Result<User> {
        check_name(name)?;
        let role = Role::parse(role)?;
        let h = hash(password)?;
        let created = crate::time::now_rfc3339();
        let db = db::lock(&self.db);
        let n = db.execute(
            "INSERT OR IGNORE INTO users VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![name, role.as_str(), h, created],
        )?;
        if n == 0 {
            return Err(Error::Conflict(format!("user {name} already exists")));
        }
        Ok(User {
            name: name.into(),
            role: role.as_str().into(),
            created,
        })
    }

    pub fn passwd(&self, name: &str, password: &str) -> Result<()> {
        let h = hash(password)?;
        let db = db::lock(&self.db);
        let n = db.execute(
            "UPDATE users SET hash = ?2 WHERE name = ?1",
            rusqlite::params![name, h],
        )?;
        if n == 0 {
            return Err(Error::NotFound(format!("no such user: {name}")));
        }
        Ok(())
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let db = db::lock(&self.db);
        if db.execute("DELETE FROM users WHERE name = ?1", [name])? == 0 {
            return Err(Error::NotFound(format!("no such user: {name}")));
        }
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<User>> {
        let db = db::lock(&self.db);
        let mut q = db.prepare("SELECT name, role, created FROM users ORDER BY name")?;
        let rows = q.query_map([], |r| {
            Ok(User {
                name: r.get(0)?,
                role: r.get(1)?,
                created: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The user and role when `password` is theirs. An unknown name costs a hash check too
    /// (no timing tells which names exist).
    pub fn verify(&self, name: &str, password: &str) -> Result<Option<(User, Role)>> {
        let row: Option<(String, String, String)> = {
            let db = db::lock(&self.db);
            let mut q =
                db.prepare_cached("SELECT role, hash, created FROM users WHERE name = ?1")?;
            let mut rows = q.query([name])?;
            match rows.next()? {
                Some(r) => Some((r.get(0)?, r.get(1)?, r.get(2)?)),
                None => None,
            }
        };
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| hash("not anyone's password").unwrap_or_default());
        let stored = row.as_ref().map_or(dummy.as_str(), |r| r.1.as_str());
        let ok = PasswordHash::new(stored).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        });
        match row {
            Some((role, _, created)) if ok => {
                let r = Role::parse(&role)?;
                Ok(Some((
                    User {
                        name: name.into(),
                        role,
                        created,
                    },
                    r,
                )))
            }
            _ => Ok(None),
        }
    }

    /// A user's current role (None: removed meanwhile).
    pub fn role(&self, name: &str) -> Result<Option<Role>> {
        let db = db::lock(&self.db);
        let mut q = db.prepare_cached("SELECT role FROM users WHERE name = ?1")?;
        let mut rows = q.query([name])?;
        match rows.next()? {
            Some(r) => Ok(Some(Role::parse(&r.get::<_, String>(0)?)?)),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_checked_changed_and_removed() {
        let dir = tempfile::tempdir().expect("dir");
        let u = Users::open(dir.path()).expect("open");
        u.add("ann", "admin", "correct horse").expect("add");
        assert!(u.add("ann", "viewer", "another one").is_err());
        assert!(u.add("bo b", "viewer", "long enough").is_err());
        assert!(u.add("bob", "root", "long enough").is_err());
        assert!(u.add("bob", "viewer", "short").is_err());
        u.add("bob", "viewer", "long enough").expect("add");
        let (user, role) = u
            .verify("ann", "correct horse")
            .expect("verify")
            .expect("ok");
        assert_eq!((user.name.as_str(), role), ("ann", Role::Admin));
        assert!(u.verify("ann", "wrong horse").expect("verify").is_none());
        assert!(
            u.verify("nobody", "correct horse")
                .expect("verify")
                .is_none()
        );
        u.passwd("ann", "battery staple").expect("passwd");
        assert!(u.verify("ann", "correct horse").expect("verify").is_none());
        assert!(u.verify("ann", "battery staple").expect("verify").is_some());
        assert_eq!(u.list().expect("list").len(), 2);
        u.remove("bob").expect("rm");
        assert!(u.remove("bob").is_err());
        assert_eq!(u.role("bob").expect("role"), None);
        assert!(!Role::Viewer.can_act() && Role::Operator.can_act());
    }
}
