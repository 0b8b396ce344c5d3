//! One `clone` into the container's init, and everything that process does before `execve`.
//!
//! The parent prepares an [`Init`] (every path, argument and filter as ready-made C data),
//! makes a `SOCK_SEQPACKET` pair and calls `clone` once with all the `CLONE_NEW*` flags: the
//! child is already PID 1 of its namespaces, with no intermediate process and no re-exec of the
//! binary. The two sides then speak a tiny fixed-size protocol ([`Msg`](protocol::Msg)):
//!
//! 1. parent → child `GO` once it has written the id maps;
//! 2. parent → child `JOINED` once the child is in its cgroup. Moving a task into a v1 cgroup
//!    waits for an RCU grace period (several milliseconds, the biggest single cost of a start),
//!    so the parent does it while the child mounts; the child waits for `JOINED` only before
//!    it reports ready, so no user code ever runs outside the cgroup;
//! 3. child → parent `HOOKS` (only when `createRuntime` hooks exist), answered with `GO`;
//! 4. child → parent `READY` when set-up is complete, or `ERROR(step, index, errno)`;
//! 5. for `run`/`exec`, EOF when `execve` succeeds (the socket is close-on-exec) or an `ERROR`.
//!
//! The child never allocates or takes a lock that another thread of the parent might hold; its
//! errors are numbers that the parent turns into messages with [`Init::describe`].
//!
//! The module is split by side and by job:
//! * `protocol`: the messages on the sync socket and the step numbers errors travel as;
//! * `init`: the [`Init`] description the parent prepares, and its parts;
//! * `parent`: [`spawn`] (the `clone`) and the parent's half of the protocol;
//! * `report`: [`Init::describe`], the parent's reading of a child's error report;
//! * `child`: the child's half, from the first message to `execve`;
//! * `reaper`: `--init`, where the child stays PID 1 and reaps the program's processes;
//! * `wait`: the runtime's own waits for the processes it spawned, and wait statuses.

mod child;
mod init;
mod parent;
mod protocol;
mod reaper;
mod report;
mod wait;

pub use init::{CArray, CgroupJoin, Gate, Init, exec_candidates};
pub use parent::{Callbacks, Spawned, spawn};
pub use wait::{exit_code, kill_and_reap, reap, reap_forwarding_signals};
