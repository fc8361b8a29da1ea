//! A container's state: derived from the shim's files (`shim.json` of a live shim means
//! running, `exit.json` exited), the freezer (paused) and the record (restarting, removing),
//! never stored apart from them; and Docker's rules for what each state allows.

pub use berth_models::container::Status;

use crate::{Error, Result};

/// What inspect's `State` and the list are made from.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
}

impl State {
    pub fn running(&self) -> bool {
        self.status == Status::Running
    }

    /// Running or paused: its processes (and namespaces) exist.
    pub fn alive(&self) -> bool {
        matches!(self.status, Status::Running | Status::Paused)
    }
}

/// What a user (or the engine) asks of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Kill,
    Pause,
    Unpause,
    Remove { force: bool },
    Exec,
    Attach,
}

/// What the state says to an action: do it, or there is nothing to do (`304`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Proceed,
    AlreadyDone,
}

/// Docker's transitions: whether `action` may happen to a container in `status` (`name` and
/// `id` make dockerd's messages).
pub fn check(status: Status, action: Action, name: &str, id: &str) -> Result<Verdict> {
    use Action as A;
    use Status as S;
    let conflict = |m: String| Err(Error::Conflict(m));
    if status == S::Removing && action != (A::Remove { force: true }) {
        return conflict(format!(
            "removal of container {name} is already in progress"
        ));
    }
    match (action, status) {
        (A::Start, S::Running) => Ok(Verdict::AlreadyDone),
        (A::Start, S::Paused) => {
            conflict("cannot start a paused container, try unpause instead".to_owned())
        }
        (A::Start, S::Dead) => conflict(format!(
            "container {id} is marked for removal and cannot be started"
        )),
        (A::Start, S::Created | S::Exited | S::Restarting | S::Removing) => Ok(Verdict::Proceed),
        (A::Stop, S::Running | S::Paused | S::Restarting) => Ok(Verdict::Proceed),
        (A::Stop, _) => Ok(Verdict::AlreadyDone),
        (A::Kill, S::Running | S::Paused) => Ok(Verdict::Proceed),
        (A::Kill, S::Restarting) => conflict(format!(
            "Container {id} is restarting, wait until the container is running"
        )),
        (A::Kill, _) => conflict(format!(
            "cannot kill container: {name}: container {id} is not running"
        )),
        (A::Pause, S::Running) => Ok(Verdict::Proceed),
        (A::Pause, S::Paused) => conflict(format!("Container {id} is already paused")),
        (A::Pause | A::Exec, S::Restarting) => conflict(format!(
            "Container {id} is restarting, wait until the container is running"
        )),
        (A::Pause, _) => conflict(format!("Container {id} is not running")),
        (A::Unpause, S::Paused) => Ok(Verdict::Proceed),
        (A::Unpause, _) => conflict(format!("Container {id} is not paused")),
        (A::Exec, S::Running) => Ok(Verdict::Proceed),
        (A::Exec, S::Paused) => conflict(format!(
            "Container {id} is paused, unpause the container before exec"
        )),
        (A::Exec, _) => conflict(format!("container {id} is not running")),
        (A::Attach, S::Paused) => {
            conflict("You cannot attach to a paused container, unpause it first".to_owned())
        }
        (A::Attach, _) => Ok(Verdict::Proceed),
        (A::Remove { force: false }, S::Paused) => conflict(format!(
            "cannot remove container \"/{name}\": container is paused: unpause and then stop the container before attempting removal or force remove"
        )),
        (A::Remove { force: false }, S::Running) => conflict(format!(
            "cannot remove container \"/{name}\": container is running: stop the container before removing or force remove"
        )),
        (A::Remove { force: false }, S::Restarting) => conflict(format!(
            "cannot remove container \"/{name}\": container is restarting: stop the container before removing or force remove"
        )),
        (A::Remove { .. }, _) => Ok(Verdict::Proceed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: Status, a: Action) -> Option<Verdict> {
        check(s, a, "web", "0123").ok()
    }

    #[test]
    fn transitions_are_dockers() {
        use Action as A;
        use Status as S;
        assert_eq!(ok(S::Created, A::Start), Some(Verdict::Proceed));
        assert_eq!(ok(S::Exited, A::Start), Some(Verdict::Proceed));
        assert_eq!(ok(S::Running, A::Start), Some(Verdict::AlreadyDone));
        assert_eq!(ok(S::Paused, A::Start), None);
        assert_eq!(ok(S::Dead, A::Start), None);
        assert_eq!(ok(S::Exited, A::Stop), Some(Verdict::AlreadyDone));
        assert_eq!(ok(S::Restarting, A::Stop), Some(Verdict::Proceed));
        assert_eq!(ok(S::Paused, A::Kill), Some(Verdict::Proceed));
        assert_eq!(ok(S::Exited, A::Kill), None);
        assert_eq!(ok(S::Restarting, A::Kill), None);
        assert_eq!(ok(S::Running, A::Pause), Some(Verdict::Proceed));
        assert_eq!(ok(S::Paused, A::Pause), None);
        assert_eq!(ok(S::Running, A::Unpause), None);
        assert_eq!(ok(S::Paused, A::Exec), None);
        assert_eq!(ok(S::Restarting, A::Exec), None);
        assert_eq!(ok(S::Running, A::Remove { force: false }), None);
        assert_eq!(ok(S::Paused, A::Remove { force: false }), None);
        assert_eq!(ok(S::Restarting, A::Remove { force: false }), None);
        assert_eq!(
            ok(S::Running, A::Remove { force: true }),
            Some(Verdict::Proceed)
        );
        assert_eq!(ok(S::Removing, A::Remove { force: false }), None);
        assert_eq!(ok(S::Removing, A::Start), None);
        assert_eq!(
            ok(S::Dead, A::Remove { force: false }),
            Some(Verdict::Proceed)
        );
        let e = check(S::Running, A::Remove { force: false }, "web", "0123").expect_err("refused");
        assert!(matches!(e, Error::Conflict(_)));
        assert_eq!(
            e.to_string(),
            "cannot remove container \"/web\": container is running: stop the container before removing or force remove"
        );
    }
}
