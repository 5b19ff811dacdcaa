//! Child processes for the real-peer tests: bounded runs, long-running servers killed on drop,
//! loopback ports, and the rule for a peer binary that is not installed.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Variables removed from every child so a developer's shell cannot change a result.
const SCRUBBED: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "CURL_CA_BUNDLE",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "NODE_OPTIONS",
    "JAVA_TOOL_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "PGSSLROOTCERT",
    "PGSSLMODE",
    "OPENAI_API_KEY",
];

pub fn scrubbed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for k in SCRUBBED {
        cmd.env_remove(k);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bind :0, read, drop). Servers that need
/// the number in a config file use this and retry on a lost race.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(300)).is_ok()
}

/// Polls `f` every 50 ms until it yields `Some` or `timeout` passes.
pub fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Output gathered from a child's stdout and stderr (interleaved by line) and each alone.
#[derive(Clone, Default)]
pub struct Output {
    all: Arc<Mutex<String>>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

impl Output {
    fn attach(&self, child: &mut Child) -> Vec<JoinHandle<()>> {
        let mut t = Vec::new();
        if let Some(s) = child.stdout.take() {
            t.push(pump(s, self.all.clone(), self.out.clone()));
        }
        if let Some(s) = child.stderr.take() {
            t.push(pump(s, self.all.clone(), self.err.clone()));
        }
        t
    }
    pub fn all(&self) -> String {
        self.all.lock().unwrap().clone()
    }
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap().clone()
    }
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }
}

fn pump(
    r: impl Read + Send + 'static,
    all: Arc<Mutex<String>>,
    own: Arc<Mutex<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let s = String::from_utf8_lossy(&buf);
                    all.lock().unwrap().push_str(&s);
                    own.lock().unwrap().push_str(&s);
                }
            }
        }
    })
}

/// The result of a bounded run.
pub struct Run {
    /// `None` when the deadline passed and the process was killed.
    pub status: Option<ExitStatus>,
    pub output: Output,
    pub elapsed: Duration,
}

impl Run {
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
    pub fn stdout(&self) -> String {
        self.output.stdout()
    }
    pub fn stderr(&self) -> String {
        self.output.stderr()
    }
    pub fn all(&self) -> String {
        self.output.all()
    }
}

/// Runs `cmd` to completion, killing it after `timeout`.
pub fn run_bounded(cmd: Command, timeout: Duration) -> Run {
    run_bounded_input(cmd, None, timeout)
}

/// Like [`run_bounded`], writing `input` to the child's stdin first (then closing it).
pub fn run_bounded_input(mut cmd: Command, input: Option<&[u8]>, timeout: Duration) -> Run {
    let start = Instant::now();
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", cmd.get_program()));
    if let (Some(bytes), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        let bytes = bytes.to_vec();
        // A writer thread: a child that never reads must not block the test.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let output = Output::default();
    let pumps = output.attach(&mut child);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if start.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // A grandchild holding the pipes open (Chromium's helpers) must not block the test.
    let joined = wait_until(Duration::from_secs(5), || {
        pumps.iter().all(|p| p.is_finished()).then_some(())
    });
    if joined.is_some() {
        for p in pumps {
            let _ = p.join();
        }
    }
    Run {
        status,
        output,
        elapsed: start.elapsed(),
    }
}

/// A long-running child (a server under test), stopped on drop: `stop_signal` first, then
/// SIGKILL after five seconds.
pub struct Daemon {
    pub name: String,
    child: Option<Child>,
    pub output: Output,
    stop_signal: &'static str,
    _pumps: Vec<JoinHandle<()>>,
}

impl Daemon {
    pub fn spawn(name: &str, mut cmd: Command, stop_signal: &'static str) -> Daemon {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name} ({:?}): {e}", cmd.get_program()));
        let output = Output::default();
        let pumps = output.attach(&mut child);
        Daemon {
            name: name.to_string(),
            child: Some(child),
            output,
            stop_signal,
            _pumps: pumps,
        }
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Waits (bounded) until 127.0.0.1:`port` accepts connections. `Err` with the output when
    /// the process exits first or the deadline passes.
    pub fn wait_port(&mut self, port: u16, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.exited() {
                return Err(format!(
                    "{} exited ({st}) before listening:\n{}",
                    self.name,
                    self.output.all()
                ));
            }
            if port_open(port) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} not listening on 127.0.0.1:{port} within {timeout:?}:\n{}",
                    self.name,
                    self.output.all()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .arg(format!("-{}", self.stop_signal))
                .arg(child.id().to_string())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let done = wait_until(Duration::from_secs(5), || child.try_wait().ok().flatten());
            if done.is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// Finds `program` in PATH or at an absolute path.
pub fn which(program: &str) -> Option<PathBuf> {
    let p = Path::new(program);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|c| c.is_file())
    })
}

/// Whether a missing peer fails the test (CI sets TLSGATE_REQUIRE_PEERS) or skips it.
pub fn peers_required() -> bool {
    std::env::var_os("TLSGATE_REQUIRE_PEERS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// `Some(path)` of the first program found; `None` (after a message) when none is installed and
/// TLSGATE_REQUIRE_PEERS is unset; a panic when it is set.
pub fn require_peer(what: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = candidates.iter().find_map(|c| which(c)) {
        return Some(p);
    }
    let msg = format!(
        "{what} is not installed (looked for {candidates:?}); run scripts/install-peers.sh"
    );
    if peers_required() {
        panic!("{msg} (TLSGATE_REQUIRE_PEERS is set)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}
