//! One event loop for everything the daemon waits on: container and exec exits, shim
//! processes to reap, restart back-offs and health-check intervals.
//!
//! A thread per waiting thing does not scale: at a thousand containers, a monitor, a reaper
//! and a health thread each meant thousands of threads and their stacks. Here one thread
//! sleeps in `epoll_wait` on every registered descriptor (a shim connection whose answer is
//! pending, a shim's pidfd) with a timeout set by the nearest timer. When something is ready
//! its job is handed to a short-lived thread, so a slow job (unmounting, restarting a
//! container) never delays the others; at rest, the daemon has this one thread.
//!
//! Jobs are one-shot: a descriptor is removed from the set when it fires and handed back to
//! its job (with whatever owns it, e.g. a pending shim answer); a timer fires once. Dropping the [`Supervisor`] stops the loop; registered jobs
//! then never run.

use rustix::event::epoll;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Something waited on: its descriptor, and the job that gets it back once it is ready.
trait Watched: Send {
    fn fd(&self) -> BorrowedFd<'_>;
    fn fire(self: Box<Self>);
}

struct Watch<T, F> {
    item: T,
    job: F,
}

impl<T: AsFd + Send, F: FnOnce(T) + Send> Watched for Watch<T, F> {
    fn fd(&self) -> BorrowedFd<'_> {
        self.item.as_fd()
    }

    fn fire(self: Box<Self>) {
        (self.job)(self.item)
    }
}
/// A job run once its time comes.
type TimerJob = Box<dyn FnOnce() + Send>;

/// The token of the loop's own wake-up descriptor.
const WAKE: u64 = 0;
/// Stack of a job thread: jobs do engine work (records, mounts, shim calls), not deep
/// recursion.
const JOB_STACK: usize = 512 * 1024;

/// Identifies a timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

#[derive(Default)]
struct Tables {
    next: u64,
    fds: HashMap<u64, Box<dyn Watched>>,
    timers: BinaryHeap<Reverse<(Instant, u64)>>,
    timer_jobs: HashMap<u64, TimerJob>,
}

struct Shared {
    epoll: OwnedFd,
    wake: OwnedFd,
    tables: Mutex<Tables>,
    stopping: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

/// The daemon's event loop; see the module documentation.
pub struct Supervisor {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.shared.lock();
        f.debug_struct("Supervisor")
            .field("descriptors", &t.fds.len())
            .field("timers", &t.timer_jobs.len())
            .finish()
    }
}

impl Supervisor {
    /// Starts the loop thread.
    pub fn start() -> io::Result<Supervisor> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )?;
        epoll::add(
            &epoll,
            &wake,
            epoll::EventData::new_u64(WAKE),
            epoll::EventFlags::IN,
        )?;
        let shared = Arc::new(Shared {
            epoll,
            wake,
            tables: Mutex::new(Tables {
                next: WAKE + 1,
                ..Tables::default()
            }),
            stopping: AtomicBool::new(false),
        });
        let looping = shared.clone();
        std::thread::Builder::new()
            .name("supervisor".into())
            .stack_size(256 * 1024)
            .spawn(move || run(&looping))?;
        Ok(Supervisor { shared })
    }

    /// Runs `job` with `item` once its descriptor is readable, has hung up or failed. Should
    /// the kernel refuse to watch it (out of memory, `max_user_watches`), the job runs at once
    /// on its own thread, where reading blocks as a thread per wait did before.
    pub fn on_readable<T: AsFd + Send + 'static>(
        &self,
        item: T,
        job: impl FnOnce(T) + Send + 'static,
    ) {
        let mut t = self.shared.lock();
        let token = t.next;
        t.next += 1;
        let added = epoll::add(
            &self.shared.epoll,
            &item,
            epoll::EventData::new_u64(token),
            epoll::EventFlags::IN
                | epoll::EventFlags::RDHUP
                | epoll::EventFlags::HUP
                | epoll::EventFlags::ERR,
        );
        match added {
            Ok(()) => {
                t.fds.insert(token, Box::new(Watch { item, job }));
            }
            Err(e) => {
                drop(t);
                tracing::warn!(error = %e, "cannot watch a descriptor; waiting on a thread");
                dispatch(Box::new(move || job(item)));
            }
        }
    }

    /// Runs `job` once `delay` has passed.
    pub fn after(&self, delay: Duration, job: impl FnOnce() + Send + 'static) -> TimerId {
        let mut t = self.shared.lock();
        let token = t.next;
        t.next += 1;
        t.timers.push(Reverse((Instant::now() + delay, token)));
        t.timer_jobs.insert(token, Box::new(job));
        drop(t);
        self.shared.wake();
        TimerId(token)
    }

    /// Forgets a timer that has not fired yet.
    pub fn cancel(&self, timer: TimerId) {
        self.shared.lock().timer_jobs.remove(&timer.0);
    }

    /// Runs `job` now, on a job thread (for work that must not run under the caller's locks).
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        dispatch(Box::new(job));
    }

    /// Stops the loop and drops every job that has not run (with what it holds: pending shim
    /// answers, restart timers), so an engine closed in process leaves nothing waiting.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake();
        let (fds, jobs) = {
            let mut t = self.shared.lock();
            t.timers.clear();
            (
                std::mem::take(&mut t.fds),
                std::mem::take(&mut t.timer_jobs),
            )
        };
        drop(fds);
        drop(jobs);
    }

    /// Descriptors and timers waiting (for tests and diagnostics).
    pub fn pending(&self) -> (usize, usize) {
        let t = self.shared.lock();
        (t.fds.len(), t.timer_jobs.len())
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake();
    }
}

/// Runs a job on its own short-lived thread; if no thread can be made (the host's limit),
/// on the caller's.
fn dispatch(job: TimerJob) {
    let slot = Arc::new(Mutex::new(Some(job)));
    let theirs = slot.clone();
    let spawned = std::thread::Builder::new()
        .name("berth-job".into())
        .stack_size(JOB_STACK)
        .spawn(move || {
            if let Some(job) = theirs.lock().unwrap_or_else(|p| p.into_inner()).take() {
                job();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start a job thread; running the job in place");
        if let Some(job) = slot.lock().unwrap_or_else(|p| p.into_inner()).take() {
            job();
        }
    }
}

fn run(shared: &Shared) {
    let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let timeout = {
            let t = shared.lock();
            t.timers
                .peek()
                .map(|Reverse((at, _))| at.saturating_duration_since(Instant::now()))
        };
        let spec = timeout.map(|d| rustix::event::Timespec {
            tv_sec: d.as_secs() as i64,
            tv_nsec: i64::from(d.subsec_nanos()),
        });
        events.clear();
        match epoll::wait(
            &shared.epoll,
            rustix::buffer::spare_capacity(&mut events),
            spec.as_ref(),
        ) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::error!(error = %e, "the supervisor's epoll_wait failed");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        for event in events.drain(..) {
            let token = event.data.u64();
            if token == WAKE {
                let mut buf = [0u8; 8];
                let _ = rustix::io::read(&shared.wake, &mut buf);
                continue;
            }
            let ready = shared.lock().fds.remove(&token);
            if let Some(watched) = ready {
                let _ = epoll::delete(&shared.epoll, watched.fd());
                dispatch(Box::new(move || watched.fire()));
            }
        }
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut t = shared.lock();
            while let Some(Reverse((at, token))) = t.timers.peek().copied() {
                if at > now {
                    break;
                }
                t.timers.pop();
                if let Some(job) = t.timer_jobs.remove(&token) {
                    due.push(job);
                }
            }
        }
        for job in due {
            dispatch(job);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn descriptors_fire_once_when_ready() {
        let s = Supervisor::start().unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (tx, rx) = mpsc::channel();
        s.on_readable(OwnedFd::from(b), move |fd| {
            let mut buf = [0u8; 4];
            let n = rustix::io::read(&fd, &mut buf).unwrap();
            tx.send(buf[..n].to_vec()).unwrap();
        });
        assert_eq!(s.pending(), (1, 0));
        assert!(
            rx.recv_timeout(Duration::from_millis(50)).is_err(),
            "not ready yet"
        );
        use std::io::Write;
        (&a).write_all(b"go").unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), b"go");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(s.pending(), (0, 0));
    }

    #[test]
    fn a_hang_up_fires_too() {
        let s = Supervisor::start().unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (tx, rx) = mpsc::channel();
        s.on_readable(OwnedFd::from(b), move |_| tx.send(()).unwrap());
        drop(a);
        rx.recv_timeout(Duration::from_secs(2)).unwrap();
    }

    #[test]
    fn timers_fire_in_order_and_can_be_cancelled() {
        let s = Supervisor::start().unwrap();
        let (tx, rx) = mpsc::channel();
        let t1 = tx.clone();
        s.after(Duration::from_millis(60), move || t1.send(2).unwrap());
        let t2 = tx.clone();
        s.after(Duration::from_millis(10), move || t2.send(1).unwrap());
        let t3 = tx.clone();
        let cancelled = s.after(Duration::from_millis(30), move || t3.send(99).unwrap());
        s.cancel(cancelled);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), 1);
        assert_eq!(rx.recv_timeout(Duration::from_secs(2)).unwrap(), 2);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn many_waits_share_the_loop() {
        let s = Supervisor::start().unwrap();
        let mut ends = Vec::new();
        let (tx, rx) = mpsc::channel();
        for _ in 0..300 {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            let tx = tx.clone();
            s.on_readable(OwnedFd::from(b), move |_| tx.send(()).unwrap());
            ends.push(a);
        }
        assert_eq!(s.pending(), (300, 0));
        drop(ends);
        for _ in 0..300 {
            rx.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    }
}
