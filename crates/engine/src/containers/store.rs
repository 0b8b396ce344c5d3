//! The in-memory table of containers, backed by one record file each.
//!
//! Every container is an [`Entry`]: its record behind a mutex, a condition variable that wakes
//! synchronous waiters (`stop`, `rm -f`) and a watch channel that wakes `async` ones
//! (`docker wait`) on every state change, and an operation lock that serialises
//! the lifecycle operations (start, stop, remove) of that one container without blocking others.
//! Names are unique; lookups accept the full id, a unique id prefix, or the name with or
//! without its leading `/`, as Docker's do.

use super::record::ContainerRecord;
use crate::EngineError;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, EngineError>;

/// The record file inside a container's directory.
pub const RECORD_FILE: &str = "container.json";

/// One container.
#[derive(Debug)]
pub struct Entry {
    /// Full id (immutable).
    pub id: String,
    dir: PathBuf,
    record: Mutex<ContainerRecord>,
    changed: Condvar,
    /// One lifecycle operation at a time; a tokio mutex so `async` operations (stop, rm -f)
    /// hold it while they wait for an exit without holding a thread.
    op: tokio::sync::Mutex<()>,
    removed: std::sync::atomic::AtomicBool,
    /// Loaded at daemon start and not yet brought in line with what is there (its shim
    /// re-attached, an exit recorded): see `Containers::settled`.
    pending_restore: std::sync::atomic::AtomicBool,
    /// Bumped at every change (and at removal), for `async` waiters: they hold a receiver
    /// instead of a thread blocked on [`Entry::wait_for`].
    version: tokio::sync::watch::Sender<u64>,
}

impl Entry {
    /// Whether the daemon-start restore has yet to look at this container.
    pub fn restore_pending(&self) -> bool {
        self.pending_restore
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Claims the restore of this container (true once: for the caller that does it).
    pub fn take_restore(&self) -> bool {
        self.pending_restore
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the container has been removed from the store.
    pub fn is_removed(&self) -> bool {
        self.removed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the entry removed under its record lock, then wakes waiters: a waiter checks the
    /// flag while holding that lock, so it cannot miss the wake-up.
    fn mark_removed(&self) {
        let guard = self.lock();
        self.removed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        drop(guard);
        self.changed.notify_all();
        self.version.send_modify(|v| *v += 1);
    }

    /// A receiver that sees every later change of the record (and the removal).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The container's directory (`containers/<id>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> MutexGuard<'_, ContainerRecord> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of the record as it is now.
    pub fn snapshot(&self) -> ContainerRecord {
        self.lock().clone()
    }

    /// Reads a value from the record without copying all of it.
    pub fn read<T>(&self, f: impl FnOnce(&ContainerRecord) -> T) -> T {
        f(&self.lock())
    }

    /// Changes the record, persists it (atomically) and wakes every waiter. The change is kept
    /// in memory even if writing fails: the process state it describes has already happened.
    pub fn update<T>(&self, f: impl FnOnce(&mut ContainerRecord) -> T) -> Result<T> {
        let mut rec = self.lock();
        let out = f(&mut rec);
        let written = berth_storage::atomic::write_json(&self.dir.join(RECORD_FILE), &*rec);
        drop(rec);
        self.changed.notify_all();
        self.version.send_modify(|v| *v += 1);
        written?;
        Ok(out)
    }

    /// Changes the record only if the change can be persisted: the change is made on a copy,
    /// written, and only then put in place. For changes that are decisions rather than facts
    /// (a rename), so a full disk leaves the old state whole instead of half applied.
    pub fn try_update<T>(&self, f: impl FnOnce(&mut ContainerRecord) -> T) -> Result<T> {
        let mut rec = self.lock();
        let mut next = rec.clone();
        let out = f(&mut next);
        berth_storage::atomic::write_json(&self.dir.join(RECORD_FILE), &next)?;
        *rec = next;
        drop(rec);
        self.changed.notify_all();
        self.version.send_modify(|v| *v += 1);
        Ok(out)
    }

    /// Blocks until `done` holds for the record (checked at every change), or `timeout`
    /// passes; returns the record and whether `done` held.
    pub fn wait_for(
        &self,
        timeout: Option<Duration>,
        mut done: impl FnMut(&ContainerRecord) -> bool,
    ) -> (ContainerRecord, bool) {
        // A deadline beyond what an `Instant` holds is no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut rec = self.lock();
        loop {
            if done(&rec) {
                return (rec.clone(), true);
            }
            match deadline {
                None => rec = self.changed.wait(rec).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return (rec.clone(), false);
                    }
                    rec = self
                        .changed
                        .wait_timeout(rec, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// Takes the container's operation lock: one start/stop/remove at a time. For blocking
    /// callers (never an async task: it would block its worker).
    pub fn op_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.op.blocking_lock()
    }

    /// [`Entry::op_lock`] for async callers.
    pub async fn op_lock_async(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.op.lock().await
    }

    /// Resolves once `done` holds for the record (checked at every change), or `timeout`
    /// passes; returns the record and whether `done` held. Holds no thread while it waits.
    pub async fn wait_until(
        &self,
        timeout: Option<Duration>,
        mut done: impl FnMut(&ContainerRecord) -> bool,
    ) -> (ContainerRecord, bool) {
        let mut changes = self.subscribe();
        let check = async {
            loop {
                let rec = self.snapshot();
                if done(&rec) {
                    return (rec, true);
                }
                if changes.changed().await.is_err() {
                    return (self.snapshot(), false);
                }
            }
        };
        match timeout {
            None => check.await,
            Some(t) => match tokio::time::timeout(t, check).await {
                Ok(r) => r,
                Err(_) => (self.snapshot(), false),
            },
        }
    }
}

#[derive(Default)]
struct Table {
    by_id: BTreeMap<String, Arc<Entry>>,
    names: HashMap<String, String>,
}

/// All containers of the daemon.
pub struct ContainerStore {
    dir: PathBuf,
    table: Mutex<Table>,
}

impl ContainerStore {
    /// Opens the store at `dir`, loading every record. A directory without a readable record
    /// is what a crash during create leaves; it is removed.
    pub fn open(dir: &Path) -> Result<ContainerStore> {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
        let mut table = Table::default();
        let entries = std::fs::read_dir(dir).map_err(|e| EngineError::io(dir, e))?;
        for dirent in entries {
            let dirent = dirent.map_err(|e| EngineError::io(dir, e))?;
            let path = dirent.path();
            let record: Option<ContainerRecord> = match berth_storage::atomic::read_json(
                &path.join(RECORD_FILE),
            ) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unreadable container record");
                    None
                }
            };
            match record {
                Some(rec) if rec.id == dirent.file_name().to_string_lossy() => {
                    table.names.insert(rec.name.clone(), rec.id.clone());
                    table
                        .by_id
                        .insert(rec.id.clone(), Arc::new(new_entry(&path, rec, true)));
                }
                _ => {
                    tracing::warn!(path = %path.display(), "removing incomplete container directory");
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
        Ok(ContainerStore {
            dir: dir.to_path_buf(),
            table: Mutex::new(table),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory of container `id`.
    pub fn dir_of(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Reserves `name` for a new container and writes its first record. Fails with a conflict
    /// naming the holder when the name is taken, as Docker does.
    pub fn insert(&self, record: ContainerRecord) -> Result<Arc<Entry>> {
        let mut table = self.lock();
        if let Some(holder) = table.names.get(&record.name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name.",
                record.name
            )));
        }
        let dir = self.dir_of(&record.id);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(crate::privacy::PRIVATE_DIR)
            .create(&dir)
            .map_err(|e| EngineError::io(&dir, e))?;
        if let Err(e) = berth_storage::atomic::write_json(&dir.join(RECORD_FILE), &record) {
            // Nothing half made stays behind (a full disk, say).
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
        table.names.insert(record.name.clone(), record.id.clone());
        let entry = Arc::new(new_entry(&dir, record, false));
        table.by_id.insert(entry.id.clone(), entry.clone());
        Ok(entry)
    }

    /// Finds a container by full id, name (`web` or `/web`) or unique id prefix.
    pub fn get(&self, key: &str) -> Result<Arc<Entry>> {
        let table = self.lock();
        let not_found = || EngineError::NoSuchContainer(key.to_string());
        if key.is_empty() {
            return Err(not_found());
        }
        if let Some(e) = table.by_id.get(key) {
            return Ok(e.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(id) = table.names.get(name) {
            return Ok(table.by_id[id].clone());
        }
        let mut matches = table
            .by_id
            .range(key.to_string()..)
            .take_while(|(id, _)| id.starts_with(key));
        match (matches.next(), matches.next()) {
            (Some((_, e)), None) => Ok(e.clone()),
            (Some(_), Some(_)) => Err(EngineError::InvalidArgument(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
            _ => Err(not_found()),
        }
    }

    /// Every container, oldest first.
    pub fn all(&self) -> Vec<Arc<Entry>> {
        let mut list: Vec<Arc<Entry>> = self.lock().by_id.values().cloned().collect();
        list.sort_by_cached_key(|e| e.read(|r| r.created.clone()));
        list
    }

    /// Number of containers.
    pub fn count(&self) -> usize {
        self.lock().by_id.len()
    }

    /// Whether `name` is free.
    pub fn name_free(&self, name: &str) -> bool {
        !self.lock().names.contains_key(name)
    }

    /// Renames a container; fails if `new` is taken.
    pub fn rename(&self, entry: &Entry, new: &str) -> Result<String> {
        let mut table = self.lock();
        if let Some(holder) = table.names.get(new) {
            return Err(EngineError::Conflict(format!(
                "Error when allocating new name: Conflict. The container name \"/{new}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        // All or nothing: the table changes only once the record on disk has.
        let old = entry.try_update(|r| std::mem::replace(&mut r.name, new.to_string()))?;
        table.names.remove(&old);
        table.names.insert(new.to_string(), entry.id.clone());
        Ok(old)
    }

    /// Forgets a container and deletes its directory.
    pub fn remove(&self, entry: &Entry) -> Result<()> {
        {
            let mut table = self.lock();
            let name = entry.read(|r| r.name.clone());
            table.names.remove(&name);
            table.by_id.remove(&entry.id);
        }
        entry.mark_removed();
        match std::fs::remove_dir_all(&entry.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::io(&entry.dir, e)),
        }
    }

    /// Whether the entry is still in the table (false once removed).
    pub fn contains(&self, id: &str) -> bool {
        self.lock().by_id.contains_key(id)
    }
}

fn new_entry(dir: &Path, record: ContainerRecord, pending_restore: bool) -> Entry {
    Entry {
        id: record.id.clone(),
        dir: dir.to_path_buf(),
        record: Mutex::new(record),
        changed: Condvar::new(),
        op: tokio::sync::Mutex::new(()),
        removed: std::sync::atomic::AtomicBool::new(false),
        pending_restore: std::sync::atomic::AtomicBool::new(pending_restore),
        version: tokio::sync::watch::Sender::new(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            created: format!("2026-01-01T00:00:0{}Z", id.len() % 10),
            ..Default::default()
        }
    }

    #[test]
    fn lookup_by_id_name_and_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        store.insert(rec("abc123", "web")).unwrap();
        store.insert(rec("abd456", "db")).unwrap();
        assert_eq!(store.get("abc123").unwrap().id, "abc123");
        assert_eq!(store.get("web").unwrap().id, "abc123");
        assert_eq!(store.get("/db").unwrap().id, "abd456");
        assert_eq!(store.get("abd").unwrap().id, "abd456");
        assert!(matches!(
            store.get("ab"),
            Err(EngineError::InvalidArgument(_))
        ));
        assert!(matches!(
            store.get("zzz"),
            Err(EngineError::NoSuchContainer(_))
        ));
        assert!(matches!(
            store.get(""),
            Err(EngineError::NoSuchContainer(_))
        ));
    }

    #[test]
    fn names_are_unique_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        let e = store.insert(rec("abc123", "web")).unwrap();
        let err = store.insert(rec("def456", "web")).unwrap_err().to_string();
        assert!(err.contains("\"/web\" is already in use"), "{err}");
        store.rename(&e, "web2").unwrap();
        assert!(store.name_free("web"));
        drop(store);
        std::fs::create_dir(dir.path().join("half-made")).unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        assert_eq!(store.get("web2").unwrap().id, "abc123");
        assert!(!dir.path().join("half-made").exists());
        let e = store.get("web2").unwrap();
        store.remove(&e).unwrap();
        assert_eq!(store.count(), 0);
        assert!(!dir.path().join("abc123").exists());
    }

    #[test]
    fn waiters_wake_on_update() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContainerStore::open(dir.path()).unwrap();
        let e = store.insert(rec("abc123", "web")).unwrap();
        let e2 = e.clone();
        let t = std::thread::spawn(move || e2.wait_for(None, |r| r.state.exit_code == 5));
        std::thread::sleep(Duration::from_millis(20));
        e.update(|r| r.state.exit_code = 5).unwrap();
        let (r, ok) = t.join().unwrap();
        assert!(ok);
        assert_eq!(r.state.exit_code, 5);
        let (_, ok) = e.wait_for(Some(Duration::from_millis(10)), |r| r.state.exit_code == 6);
        assert!(!ok);
    }
}
