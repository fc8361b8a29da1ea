//! Real clients against Berth: the docker CLI (a user's session), Compose v2 (a project),
//! docker-py (class by class, what its own integration suite found), lazydocker (in tmux),
//! testcontainers-python and bollard. Needs root (a daemon of the test's own) and the clients
//! `scripts/install-deps.sh --tests` installs.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod clients;
mod compose;
mod compose_up;
mod differential;
mod sdk;
mod streams;
