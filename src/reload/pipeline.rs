//! The reload pipeline: stable snapshot → validate → swap → report.
//!
//! Validation happens entirely on the side; only a set that passes is published, with one
//! atomic store into the SNI resolver. New handshakes see it at once, open connections keep the
//! certificate they were handshaken with, and a rejected set changes nothing that serves.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use time::OffsetDateTime;

use super::snapshot::Snapshot;
use crate::certs::info::format_time;
use crate::certs::set::CertSet;
use crate::certs::set::LoadedSet;
use crate::certs::LoadedCertificate;
use crate::config::{CertificateSource, Config};
use crate::diagnose::handshake::OurChain;
use crate::findings::{sort_by_importance, Code, Finding, Severity};
use crate::locks::lock;
use crate::status::certificate_statuses;
use crate::status::{ReloadResult, ReloadStatus, State};
use crate::telemetry::Event;

/// What asked for a reload (logged with the result).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Watch,
    Poll,
    Signal,
    Api,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Watch => "watch",
            Trigger::Poll => "poll",
            Trigger::Signal => "sighup",
            Trigger::Api => "api",
        }
    }
}

struct Current {
    hash: String,
    /// The content last rejected: the watcher and the poll do not re-report the same files.
    rejected_hash: Option<String>,
    loaded: Vec<LoadedCertificate>,
}

/// One TLS listener's certificates and the handles a reload publishes through.
pub struct ListenerCerts {
    pub name: String,
    pub sources: Vec<CertificateSource>,
    pub default: Option<usize>,
    pub set: Arc<ArcSwap<CertSet>>,
    pub chains: Arc<ArcSwap<Vec<OurChain>>>,
    current: Mutex<Current>,
}

impl ListenerCerts {
    /// Registers a listener with what it serves now.
    pub fn new(
        name: &str,
        sources: Vec<CertificateSource>,
        default: Option<usize>,
        set: Arc<ArcSwap<CertSet>>,
        chains: Arc<ArcSwap<Vec<OurChain>>>,
        loaded: Vec<LoadedCertificate>,
    ) -> Self {
        let hash = Snapshot::read(&paths_of(&sources)).content_hash();
        ListenerCerts {
            name: name.to_string(),
            sources,
            default,
            set,
            chains,
            current: Mutex::new(Current {
                hash,
                rejected_hash: None,
                loaded,
            }),
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        paths_of(&self.sources)
    }
}

fn paths_of(sources: &[CertificateSource]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = sources
        .iter()
        .flat_map(|s| {
            let mut p = vec![s.cert.clone(), s.key.clone()];
            p.extend(s.ca.clone());
            p
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The outcome of evaluating one listener's files (no side effects yet).
enum Evaluation {
    Unchanged,
    Valid {
        hash: String,
        set: LoadedSet,
    },
    Rejected {
        hash: String,
        findings: Vec<Finding>,
    },
}

/// The result of one reload, as `/status` and `POST /reload` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing changed on disk.
    Unchanged,
    /// At least one listener now serves new certificates.
    Reloaded,
    /// At least one listener's new files were refused; it keeps serving the old ones.
    Rejected(Vec<Finding>),
}

/// Reloads the certificates of every TLS listener.
pub struct Reloader {
    listeners: Vec<ListenerCerts>,
    cfg: Arc<Config>,
    state: Arc<State>,
    /// One reload at a time: triggers arriving together must not interleave their swaps.
    running: Mutex<()>,
}

impl Reloader {
    pub fn new(listeners: Vec<ListenerCerts>, cfg: Arc<Config>, state: Arc<State>) -> Self {
        Reloader {
            listeners,
            cfg,
            state,
            running: Mutex::new(()),
        }
    }

    /// Every certificate, key and CA file watched.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.listeners.iter().flat_map(|l| l.paths()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Whether the files differ from what is served (cheap: one read, no settling).
    pub fn changed_on_disk(&self) -> bool {
        self.listeners.iter().any(|l| {
            let hash = Snapshot::read(&l.paths()).content_hash();
            lock(&l.current).hash != hash
        })
    }

    /// Runs the pipeline once. `retry_transient` re-evaluates once after `retry_after` when a
    /// rejection looks like a rotation still in progress (key of one renewal with the
    /// certificate of the next, a truncated file), before reporting it.
    pub fn reload(
        &self,
        trigger: Trigger,
        retry_transient: Option<std::time::Duration>,
    ) -> Outcome {
        let _guard = lock(&self.running);
        // An operator's explicit request always reports; automatic triggers stay quiet about
        // files they already rejected.
        let repeat = matches!(trigger, Trigger::Api | Trigger::Signal);
        let mut evaluations: Vec<Evaluation> = self
            .listeners
            .iter()
            .map(|l| self.evaluate(l, repeat))
            .collect();
        if let Some(wait) = retry_transient {
            if evaluations.iter().any(is_transient_rejection) {
                std::thread::sleep(wait);
                evaluations = self
                    .listeners
                    .iter()
                    .map(|l| self.evaluate(l, repeat))
                    .collect();
            }
        }

        let mut rejected = Vec::new();
        let mut reloaded = false;
        for (l, eval) in self.listeners.iter().zip(evaluations) {
            match eval {
                Evaluation::Unchanged => {}
                Evaluation::Valid { hash, set } => {
                    self.publish(l, hash, set, trigger);
                    reloaded = true;
                }
                Evaluation::Rejected { hash, findings } => {
                    lock(&l.current).rejected_hash = Some(hash);
                    log_rejection(&l.name, trigger, &findings);
                    rejected.extend(findings);
                }
            }
        }
        let outcome = if !rejected.is_empty() {
            Outcome::Rejected(rejected)
        } else if reloaded {
            Outcome::Reloaded
        } else {
            Outcome::Unchanged
        };
        match &outcome {
            Outcome::Unchanged if trigger != Trigger::Api && trigger != Trigger::Signal => {}
            other => {
                self.state.record_reload(status_of(other));
                self.state.upstream_recheck.notify_one();
            }
        }
        outcome
    }

    fn evaluate(&self, l: &ListenerCerts, repeat_rejection: bool) -> Evaluation {
        let snapshot = Snapshot::read_stable(&l.paths());
        let hash = snapshot.content_hash();
        let current = lock(&l.current);
        if hash == current.hash
            || (!repeat_rejection && current.rejected_hash.as_deref() == Some(hash.as_str()))
        {
            return Evaluation::Unchanged;
        }
        let mut loaded = Vec::new();
        let mut fatal = Vec::new();
        for src in &l.sources {
            match crate::certs::served::load_with(src, &|p| snapshot.pem(p)) {
                Ok(c) => loaded.push(c),
                Err(mut f) => fatal.append(&mut f),
            }
        }
        if !fatal.is_empty() {
            sort_by_importance(&mut fatal);
            return Evaluation::Rejected {
                hash,
                findings: fatal,
            };
        }
        // An expired replacement for a certificate that is still valid would turn a working
        // listener into a broken one: refuse it.
        let now = OffsetDateTime::now_utc();
        for (i, new) in loaded.iter().enumerate() {
            let new_leaf = new.leaf();
            let old_valid = current
                .loaded
                .get(i)
                .is_some_and(|old| old.leaf().not_after > now);
            if new_leaf.not_after <= now && old_valid {
                return Evaluation::Rejected { hash, findings: vec![Finding::new(
                    Code::CertExpired,
                    format!(
                        "the new certificate in {} has already expired; the current one keeps serving",
                        new.source.cert.display()
                    ),
                    format!(
                        "new '{}' expired {} (not_after); the one being served is valid until {}",
                        new_leaf.display_name(),
                        format_time(new_leaf.not_after),
                        format_time(current.loaded[i].leaf().not_after)
                    ),
                    "check the renewal: the file holds an old certificate (a restored backup, or the wrong path)",
                )] };
            }
        }
        Evaluation::Valid {
            hash,
            set: crate::certs::set::diagnose_set(loaded, l.default, &self.cfg),
        }
    }

    fn publish(&self, l: &ListenerCerts, hash: String, set: LoadedSet, trigger: Trigger) {
        let mut current = lock(&l.current);
        let statuses = certificate_statuses(&set);
        for (i, (new, findings)) in set.loaded.iter().zip(&set.findings).enumerate() {
            let old_fp = current
                .loaded
                .get(i)
                .map(|c| c.fingerprint().to_string())
                .unwrap_or_default();
            if old_fp == new.fingerprint() {
                continue;
            }
            let leaf = new.leaf();
            tracing::info!(
                event = Event::CertReloaded.as_str(),
                listener = %l.name,
                trigger = trigger.as_str(),
                cert_file = %new.source.cert.display(),
                key_file = %new.source.key.display(),
                subject = %leaf.subject,
                sans = %leaf.sans.join(","),
                not_after = %format_time(leaf.not_after),
                fingerprint_old = %old_fp,
                fingerprint_new = %leaf.fingerprint_sha256,
                findings = findings.len(),
            );
            for f in findings {
                if f.severity >= Severity::Warning {
                    tracing::warn!(
                        event = Event::CertFinding.as_str(),
                        listener = %l.name,
                        cert_file = %new.source.cert.display(),
                        code = f.code.as_str(),
                        severity = f.severity.as_str(),
                        summary = %f.summary,
                        why = %f.why,
                        fix = %f.fix,
                    );
                }
            }
        }
        // Publish: one atomic store each; handshakes from now on see the new set.
        l.chains
            .store(Arc::new(crate::diagnose::evidence::our_chains(&set)));
        l.set.store(Arc::new(set.set));
        self.state.set_certificates(&l.name, statuses);
        current.hash = hash;
        current.loaded = set.loaded;
    }

    /// Logs a warning for every served certificate close to expiry (startup and daily).
    pub fn announce_expiry(&self) {
        let now = OffsetDateTime::now_utc();
        let window = time::Duration::try_from(self.cfg.diagnostics.expiry_warning.get())
            .unwrap_or(time::Duration::days(30));
        for l in &self.listeners {
            for c in &lock(&l.current).loaded {
                let leaf = c.leaf();
                if leaf.not_after > now && leaf.not_after - now <= window {
                    tracing::warn!(
                        event = Event::CertExpiringSoon.as_str(),
                        code = Code::CertExpiringSoon.as_str(),
                        listener = %l.name,
                        cert_file = %c.source.cert.display(),
                        subject = %leaf.subject,
                        not_after = %format_time(leaf.not_after),
                        days_left = leaf.days_left(now),
                        fix = "renew the certificate; tlsgate picks the new files up without a restart",
                    );
                }
            }
        }
    }
}

/// Whether a rejection may be a rotation caught half-way (the key of one renewal beside the
/// certificate of the next, a file cut short mid-write), worth one more read. Not a column of
/// the catalogue: the same findings at startup or in `check` are plain errors; what makes them
/// possibly transient is how a watched reload reads files, which this pipeline owns.
fn is_transient_rejection(e: &Evaluation) -> bool {
    match e {
        Evaluation::Rejected { findings, .. } => findings.iter().any(|f| {
            matches!(
                f.code,
                Code::KeyMismatch
                    | Code::ChainLeafNotFirst
                    | Code::CertNotFoundInFile
                    | Code::KeyNotFoundInFile
                    | Code::CertFileUnreadable
            )
        }),
        _ => false,
    }
}

fn log_rejection(listener: &str, trigger: Trigger, findings: &[Finding]) {
    let first = findings.first();
    tracing::error!(
        event = Event::CertReloadRejected.as_str(),
        listener,
        trigger = trigger.as_str(),
        code = first.map(|f| f.code.as_str()).unwrap_or("-"),
        summary = first.map(|f| f.summary.as_str()).unwrap_or("-"),
        why = first.map(|f| f.why.as_str()).unwrap_or("-"),
        fix = first.map(|f| f.fix.as_str()).unwrap_or("-"),
        findings = %serde_json::to_string(findings).unwrap_or_default(),
        "the new certificate files were rejected; the current certificate keeps serving",
    );
}

/// The `/status` form of an outcome.
pub fn status_of(outcome: &Outcome) -> ReloadStatus {
    let (result, findings) = match outcome {
        Outcome::Unchanged | Outcome::Reloaded => (ReloadResult::Ok, Vec::new()),
        Outcome::Rejected(f) => (ReloadResult::Rejected, f.clone()),
    };
    ReloadStatus {
        last_attempt_at: Some(OffsetDateTime::now_utc()),
        result,
        findings,
    }
}
