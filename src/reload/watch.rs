//! Reload triggers: a file watcher on the *directories* holding the certificates, a content-hash
//! poll as the safety net, SIGHUP, and a daily expiry announcement.
//!
//! Directories, not files: rotations replace files (atomic rename, Kubernetes' `..data` symlink
//! swap, certbot re-creating its `live/` symlinks), and a watch on a replaced file goes silent.
//! Watching the parent (and the symlink target's parent, for in-place writes through a link)
//! sees every style, and the grandparent lets a deleted and re-created directory be re-watched.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use super::pipeline::{Reloader, Trigger};
use crate::config::Reload;
use crate::telemetry::Event;

/// How often the daily expiry announcement runs.
const EXPIRY_ANNOUNCE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// Keeps the watcher alive; dropping it stops file watching.
pub struct Triggers {
    _watcher: Option<Arc<Mutex<RecommendedWatcher>>>,
}

/// The directories to watch for a set of files: every event inside `dirs` matters; in
/// `parents_of_dirs` only events about one of `dirs` itself (deleted, re-created, renamed).
#[derive(Debug, Default)]
pub struct WatchSet {
    pub dirs: BTreeSet<PathBuf>,
    pub parents_of_dirs: BTreeSet<PathBuf>,
}

impl WatchSet {
    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        self.dirs.iter().chain(&self.parents_of_dirs)
    }

    /// Whether an event about `paths` concerns our files.
    pub fn relevant(&self, event_paths: &[PathBuf]) -> bool {
        event_paths.is_empty()
            || event_paths.iter().any(|p| {
                self.dirs.contains(p) || p.parent().is_some_and(|parent| self.dirs.contains(parent))
            })
    }
}

/// The directories to watch for a set of files.
pub fn watch_dirs(paths: &[PathBuf]) -> WatchSet {
    let mut dirs = BTreeSet::new();
    let mut parents_of_dirs = BTreeSet::new();
    for p in paths {
        let abs = if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.clone())
        };
        if let Some(parent) = abs.parent() {
            dirs.insert(parent.to_path_buf());
            if let Some(gp) = parent.parent() {
                parents_of_dirs.insert(gp.to_path_buf());
            }
        }
        // In-place writes through a symlink happen in the target's directory.
        if let Ok(real) = std::fs::canonicalize(&abs) {
            if let Some(parent) = real.parent() {
                dirs.insert(parent.to_path_buf());
            }
        }
    }
    WatchSet {
        dirs,
        parents_of_dirs,
    }
}

/// (Re-)adds a watch on every directory that exists. inotify drops a watch when its directory
/// is deleted, so this runs again after every event.
fn arm(watcher: &Mutex<RecommendedWatcher>, paths: &[PathBuf]) {
    let mut w = crate::locks::lock(watcher);
    for dir in watch_dirs(paths).all() {
        if dir.is_dir() {
            if let Err(e) = w.watch(dir, RecursiveMode::NonRecursive) {
                tracing::debug!(event = Event::WatchFailed.as_str(), dir = %dir.display(), error = %e);
            }
        }
    }
}

/// Starts every trigger. Reloads run on the blocking pool (they read files and sleep while
/// files settle).
pub fn start(
    reloader: Arc<Reloader>,
    settings: &Reload,
    shutdown: watch::Receiver<bool>,
) -> Triggers {
    let debounce = settings.debounce.get();
    let paths = reloader.paths();
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();

    let watcher = if settings.watch && !paths.is_empty() {
        let dirs = watch_dirs(&paths);
        let handler_tx = tx.clone();
        let created =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                Ok(ev) if ev.kind.is_access() => {}
                Ok(ev) => {
                    if dirs.relevant(&ev.paths) {
                        let _ = handler_tx.send(());
                    }
                }
                Err(_) => {
                    let _ = handler_tx.send(());
                }
            });
        match created {
            Ok(w) => {
                let w = Arc::new(Mutex::new(w));
                arm(&w, &paths);
                Some(w)
            }
            Err(e) => {
                tracing::warn!(event = Event::WatchUnavailable.as_str(), error = %e, "file watching is unavailable; relying on the poll, SIGHUP and POST /reload");
                None
            }
        }
    } else {
        None
    };

    // Debounce: wait for `debounce` of quiet after the last event, then reload once.
    {
        let reloader = reloader.clone();
        let watcher = watcher.clone();
        let paths = paths.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    ev = rx.recv() => if ev.is_none() { return },
                }
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(debounce) => break,
                        ev = rx.recv() => if ev.is_none() { return },
                    }
                }
                if let Some(w) = &watcher {
                    arm(w, &paths);
                }
                let r = reloader.clone();
                let retry = debounce.max(Duration::from_millis(100)) * 2;
                let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::Watch, Some(retry)))
                    .await;
            }
        });
    }

    // The poll: a content hash compare, for missed events and network filesystems. It also
    // re-arms the watcher, so a directory re-created while unwatched is watched again.
    {
        let reloader = reloader.clone();
        let watcher = watcher.clone();
        let paths = paths.clone();
        let poll = settings.poll.get().max(Duration::from_millis(100));
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => {}
                }
                if let Some(w) = &watcher {
                    arm(w, &paths);
                }
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || {
                    if r.changed_on_disk() {
                        r.reload(Trigger::Poll, Some(Duration::from_millis(300)));
                    }
                })
                .await;
            }
        });
    }

    // SIGHUP always works, watcher or not.
    #[cfg(unix)]
    {
        let reloader = reloader.clone();
        let mut shutdown = shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    s = hup.recv() => if s.is_none() { return },
                }
                let r = reloader.clone();
                let _ = tokio::task::spawn_blocking(move || r.reload(Trigger::Signal, None)).await;
            }
        });
    }

    // Expiry: announced at startup and then daily.
    {
        let mut shutdown = shutdown;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRY_ANNOUNCE_EVERY);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tick.tick() => reloader.announce_expiry(),
                }
            }
        });
    }

    Triggers { _watcher: watcher }
}

#[cfg(test)]
mod tests;
