//! From a file to validated settings: read → `${ENV}` interpolation → YAML → checks that need
//! more than one field. Every error names the file, the line and column where it can, and the
//! key; a missing variable names the variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::schema::*;
use super::upstream_url::UpstreamUrl;
use crate::findings::{Code, Finding};

/// Why a configuration cannot be used. The text names the file (or flag), the position where
/// known, and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: cannot read the configuration: {error}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    /// YAML syntax, unknown key, or a value of the wrong type.
    #[error("{}{message}", position(origin, *line, *column))]
    Parse {
        origin: String,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    #[error("{origin}:{line}:{column}: environment variable {name} is not set (referenced as ${{{name}}})")]
    EnvMissing {
        origin: String,
        name: String,
        line: usize,
        column: usize,
    },
    /// A value that parses but cannot work (unknown upstream, bad URL, a zero limit, …).
    #[error("{}{key}: {message}", position(origin, (*line).map(|l| l as u64), (*column).map(|c| c as u64)))]
    Invalid {
        origin: String,
        key: String,
        message: String,
        line: Option<usize>,
        /// The column of the key on `line`.
        column: Option<usize>,
    },
}

/// `origin:line:column: `, with what is known of the position.
fn position(origin: &str, line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{origin}:{l}:{c}: "),
        (Some(l), None) => format!("{origin}:{l}: "),
        _ => format!("{origin}: "),
    }
}

impl ConfigError {
    /// The finding for reports and logs.
    pub fn to_finding(&self) -> Finding {
        match self {
            ConfigError::EnvMissing { name, .. } => Finding::new(
                Code::ConfigEnvMissing,
                format!("environment variable {name} is not set"),
                self.to_string(),
                format!(
                    "export {name}=… before starting tlsgate, or write ${{{name}:-default}} in the configuration to give a default"
                ),
            ),
            ConfigError::Read { path, .. } => Finding::new(
                Code::ConfigInvalid,
                format!("the configuration file {} cannot be read", path.display()),
                self.to_string(),
                "check the path given with -c and the file's permissions",
            ),
            ConfigError::Parse { .. } => Finding::new(
                Code::ConfigInvalid,
                "the configuration is not valid",
                self.to_string(),
                "correct the key or value at the position shown; docs/spec.md and config/*.yaml list every key",
            ),
            ConfigError::Invalid { key, .. } => Finding::new(
                Code::ConfigInvalid,
                format!("the configuration value of {key} cannot work"),
                self.to_string(),
                "correct the value named; config/*.yaml has commented examples",
            ),
        }
    }
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    parse_str(&text, &path.display().to_string())
}

/// Parses and validates configuration text; `origin` names it in errors (usually the path).
pub fn parse_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    parse_with_env(text, origin, &|name| std::env::var(name).ok())
}

/// As [`parse_str`] with an explicit environment (tests).
pub fn parse_with_env(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let expanded = interpolate(text, origin, env)?;
    let mut cfg: Config = if expanded.trim().is_empty() {
        serde_saphyr::from_str("{}")
    } else {
        serde_saphyr::from_str(&expanded)
    }
    .map_err(|e| {
        let loc = e.location();
        // The library's message ends with its own position rendering; ours comes first, so keep
        // only the first line of the message.
        let message = e.to_string();
        let mut message = strip_position(message.lines().next().unwrap_or_default()).to_string();
        if let Some(key) = loc
            .as_ref()
            .and_then(|l| key_at(&expanded, l.line() as usize, l.column() as usize))
        {
            if !message.contains(&format!("`{key}`")) {
                message = format!("{key}: {message}");
            }
        }
        ConfigError::Parse {
            origin: origin.to_string(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            message,
        }
    })?;
    validate(&mut cfg, text, origin)?;
    Ok(cfg)
}

/// The YAML key at or just before a position: `key: value` with the column on the value gives
/// `key`; a column on a key gives that key.
fn key_at(text: &str, line: usize, column: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let col = column.saturating_sub(1).min(l.len());
    let is_key_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let before = l.get(..col)?.trim_end();
    if let Some(b) = before.strip_suffix(':') {
        let key: String = b
            .chars()
            .rev()
            .take_while(|c| is_key_char(*c))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        return (!key.is_empty()).then_some(key);
    }
    let key: String = l
        .get(col..)?
        .chars()
        .take_while(|c| is_key_char(*c))
        .collect();
    (!key.is_empty() && l[col..].trim_start_matches(is_key_char).starts_with(':')).then_some(key)
}

/// Drops the library's own `error: line N column M: ` prefix: the position is printed once, as
/// `file:line:column:`.
fn strip_position(msg: &str) -> &str {
    let rest = msg.strip_prefix("error: ").unwrap_or(msg);
    if rest.starts_with("line ") {
        if let Some(i) = rest.find("column ") {
            if let Some(j) = rest[i..].find(": ") {
                return &rest[i + j + 2..];
            }
        }
    }
    rest
}

/// Replaces `${NAME}` and `${NAME:-default}`; `$${` stays a literal `${`.
///
/// Done on the text before YAML parsing so a variable may appear anywhere a value does. Line
/// numbers are preserved (values containing newlines are rejected) so YAML errors still point at
/// the right line.
pub fn interpolate(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        // Comments are not interpolated: a commented-out `${VAR}` must not be required.
        let (code, comment) = split_comment(line);
        let mut rest = code;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos..];
            if let Some(tail) = after.strip_prefix("$${") {
                out.push_str("${");
                rest = tail;
                continue;
            }
            if !after.starts_with("${") {
                out.push('$');
                rest = &after[1..];
                continue;
            }
            let Some(end) = after.find('}') else {
                return Err(ConfigError::Parse {
                    origin: origin.to_string(),
                    line: Some(line_no as u64 + 1),
                    column: Some((code.len() - rest.len() + pos) as u64 + 1),
                    message: "unterminated ${ (write $${ for a literal ${)".into(),
                });
            };
            let inner = &after[2..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            let column = code.len() - rest.len() + pos + 1;
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ConfigError::Parse {
                    origin: origin.to_string(),
                    line: Some(line_no as u64 + 1),
                    column: Some(column as u64),
                    message: format!("invalid variable name {name:?} in ${{{inner}}}"),
                });
            }
            let value = match (env(name), default) {
                (Some(v), _) => v,
                (None, Some(d)) => d.to_string(),
                (None, None) => {
                    return Err(ConfigError::EnvMissing {
                        origin: origin.to_string(),
                        name: name.to_string(),
                        line: line_no + 1,
                        column,
                    })
                }
            };
            if value.contains('\n') || value.contains('\r') {
                return Err(ConfigError::Parse {
                    origin: origin.to_string(),
                    line: Some(line_no as u64 + 1),
                    column: Some(column as u64),
                    message: format!("environment variable {name} contains a newline, which a configuration value cannot hold"),
                });
            }
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        out.push_str(comment);
    }
    Ok(out)
}

/// Splits a YAML line at a `#` that starts a comment (outside quotes, at the start or after a
/// space).
fn split_comment(line: &str) -> (&str, &str) {
    let mut in_single = false;
    let mut in_double = false;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !in_double => in_single = !in_single,
            '"' if !in_single && prev != '\\' => in_double = !in_double,
            '#' if !in_single && !in_double && prev.is_whitespace() => {
                return (&line[..i], &line[i..]);
            }
            _ => {}
        }
        prev = c;
    }
    (line, "")
}

/// The line on which `key:` first appears after `after_line`, to point validation errors at it.
fn find_line(text: &str, key: &str, after_line: usize) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(after_line)
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":"))
        })
        .map(|(i, _)| i + 1)
}

fn invalid(text: &str, origin: &str, key: String, leaf_key: &str, message: String) -> ConfigError {
    let at = locate(text, &key, leaf_key);
    ConfigError::Invalid {
        origin: origin.to_string(),
        line: at.map(|(l, _)| l),
        column: at.map(|(_, c)| c),
        key,
        message,
    }
}

/// The line and column of the key a validation error names: `key_path` (`limits.max_connections`,
/// `listeners[1].bind`) walked block by block, so `limits.max_connections` is not confused with
/// `admin.max_connections`; when the path cannot be walked (or names a different leaf), the
/// first `leaf_key:` in the file.
fn locate(text: &str, key_path: &str, leaf_key: &str) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let walked = key_path
        .rsplit('.')
        .next()
        .is_some_and(|last| last == leaf_key)
        .then(|| walk(&lines, key_path))
        .flatten();
    walked.or_else(|| {
        let line = find_line(text, leaf_key, 0)?;
        Some((line, key_column(lines.get(line - 1)?)))
    })
}

/// The column (1-based) where a line's key starts, after its indentation and any `- `.
fn key_column(line: &str) -> usize {
    let indent = line.len() - line.trim_start().len();
    let t = line.trim_start();
    let dash = t.len() - t.trim_start_matches("- ").len();
    indent + dash + 1
}

/// Walks `a.b[2].c` through the YAML blocks by indentation (block style only).
fn walk(lines: &[&str], key_path: &str) -> Option<(usize, usize)> {
    let meaningful = |l: &str| !l.trim().is_empty() && !l.trim_start().starts_with('#');
    let indent = |l: &str| l.len() - l.trim_start().len();
    let is_item = |l: &str| l.trim_start().starts_with("- ");
    // The block searched next: from `start`, the lines deeper than `parent` (the line at
    // `start` itself is a sequence item's `- ` line when `on_item`).
    let (mut start, mut parent, mut on_item): (usize, Option<usize>, bool) = (0, None, false);
    let mut found: Option<(usize, usize)> = None;
    for segment in key_path.split('.') {
        let (name, index) = match segment.split_once('[') {
            Some((n, i)) => (n, Some(i.strip_suffix(']')?.parse::<usize>().ok()?)),
            None => (segment, None),
        };
        let from = if on_item { start + 1 } else { start };
        let end = (from..lines.len())
            .find(|&i| meaningful(lines[i]) && parent.is_some_and(|p| indent(lines[i]) <= p))
            .unwrap_or(lines.len());
        let at = (start..end).find(|&i| {
            let t = lines[i].trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{name}:")) || t.starts_with(&format!("\"{name}\":"))
        });
        let Some(at) = at else {
            // A flow mapping on the parent's line: `timeouts: { connect: 0s }`.
            let (line, col): (usize, usize) = found?;
            let text: &str = lines[line - 1];
            let rest = text.get(col..)?;
            let pos = rest
                .match_indices(&format!("{name}:"))
                .find_map(|(i, _)| rest[..i].ends_with(['{', ',', ' ']).then_some(i))?;
            return Some((line, col + pos + 1));
        };
        let col = key_column(lines[at]);
        found = Some((at + 1, col));
        parent = Some(col - 1);
        start = at + 1;
        on_item = false;
        if let Some(n) = index {
            // The n-th `- ` item of the sequence under the key.
            let end = (start..lines.len())
                .find(|&i| meaningful(lines[i]) && indent(lines[i]) < col && !is_item(lines[i]))
                .unwrap_or(lines.len());
            let items: Vec<usize> = (start..end).filter(|&i| is_item(lines[i])).collect();
            let item_indent = indent(lines[*items.first()?]);
            start = *items
                .iter()
                .filter(|&&i| indent(lines[i]) == item_indent)
                .nth(n)?;
            parent = Some(item_indent);
            on_item = true;
        }
    }
    found
}

/// Checks that need more than one field, and fills derived defaults (listener names, header
/// name case).
pub fn validate(cfg: &mut Config, text: &str, origin: &str) -> Result<(), ConfigError> {
    let err = |key: String, leaf: &str, msg: String| invalid(text, origin, key, leaf, msg);

    for (i, l) in cfg.listeners.iter_mut().enumerate() {
        if l.name.trim().is_empty() {
            l.name = format!("listener{i}");
        }
    }
    for (i, l) in cfg.listeners.iter().enumerate() {
        if cfg.listeners[..i].iter().any(|o| o.name == l.name) {
            return Err(err(
                format!("listeners[{i}].name"),
                "name",
                format!("duplicate listener name {:?}", l.name),
            ));
        }
        // Port 0 asks the system for a free port: two such listeners do not collide.
        if l.bind.port() != 0 && cfg.listeners[..i].iter().any(|o| o.bind == l.bind) {
            return Err(err(
                format!("listeners[{i}].bind"),
                "bind",
                format!("{} is already used by another listener", l.bind),
            ));
        }
        match (l.proxy_protocol, l.trusted_proxies.is_empty()) {
            (ProxyProtocol::Off, false) => {
                return Err(err(
                    format!("listeners[{i}].trusted_proxies"),
                    "trusted_proxies",
                    "trusted_proxies has no effect while proxy_protocol is off: set proxy_protocol (v1, v2 or any) to what the load balancer sends, or remove trusted_proxies".into(),
                ));
            }
            (ProxyProtocol::V1 | ProxyProtocol::V2 | ProxyProtocol::Any, true) => {
                return Err(err(
                    format!("listeners[{i}].proxy_protocol"),
                    "proxy_protocol",
                    "proxy_protocol needs trusted_proxies: list the load balancers' addresses or networks (e.g. [10.0.0.0/8]); anyone else could claim any client address. To accept the header from everywhere, say so: [0.0.0.0/0, \"::/0\"]".into(),
                ));
            }
            _ => {}
        }
        if let Some(tls) = &l.tls {
            if tls.certificates.is_empty() {
                return Err(err(
                    format!("listeners[{i}].tls.certificates"),
                    "certificates",
                    "at least one certificate is required (omit `tls:` for a plain-HTTP listener)"
                        .into(),
                ));
            }
            if let Some(d) = tls.default_certificate {
                if d >= tls.certificates.len() {
                    return Err(err(
                        format!("listeners[{i}].tls.default_certificate"),
                        "default_certificate",
                        format!(
                            "index {d} is out of range: there are {} certificate(s), numbered from 0",
                            tls.certificates.len()
                        ),
                    ));
                }
            }
            for p in &tls.alpn {
                if p != "h2" && p != "http/1.1" {
                    return Err(err(
                        format!("listeners[{i}].tls.alpn"),
                        "alpn",
                        format!("unsupported protocol {p:?}: expected h2 or http/1.1"),
                    ));
                }
            }
        }
    }

    for (name, up) in cfg.upstreams.iter_mut() {
        UpstreamUrl::parse(&up.url)
            .map_err(|e| err(format!("upstreams.{name}.url"), "url", e.to_string()))?;
        let mut lowered = std::collections::BTreeMap::new();
        for (k, v) in std::mem::take(&mut up.set_headers) {
            let lk = k.to_ascii_lowercase();
            if http::header::HeaderName::from_bytes(lk.as_bytes()).is_err() {
                return Err(err(
                    format!("upstreams.{name}.set_headers"),
                    &k,
                    format!("{k:?} is not a valid header name"),
                ));
            }
            if http::header::HeaderValue::from_str(&v).is_err() {
                return Err(err(
                    format!("upstreams.{name}.set_headers.{k}"),
                    &k,
                    "the value is not a valid header value (control characters?)".into(),
                ));
            }
            lowered.insert(lk, v);
        }
        up.set_headers = lowered;
        if up.tls.client_cert.is_some() != up.tls.client_key.is_some() {
            return Err(err(
                format!("upstreams.{name}.tls"),
                "client_cert",
                "client_cert and client_key go together: set both or neither".into(),
            ));
        }
        if let Some(p) = up.egress_proxy.as_deref().filter(|p| !p.trim().is_empty()) {
            UpstreamUrl::parse_proxy(p).map_err(|e| {
                err(
                    format!("upstreams.{name}.egress_proxy"),
                    "egress_proxy",
                    e.to_string(),
                )
            })?;
        }
    }

    for (i, r) in cfg.routes.iter().enumerate() {
        if !r.path_prefix.starts_with('/') {
            return Err(err(
                format!("routes[{i}].path_prefix"),
                "path_prefix",
                format!("{:?} must start with /", r.path_prefix),
            ));
        }
        if !cfg.upstreams.contains_key(&r.upstream) {
            let known: Vec<&str> = cfg.upstreams.keys().map(String::as_str).collect();
            return Err(err(
                format!("routes[{i}].upstream"),
                "upstream",
                format!(
                    "no upstream named {:?} (defined: {})",
                    r.upstream,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    if cfg.routes.is_empty() && cfg.upstreams.len() > 1 {
        return Err(err(
            "routes".into(),
            "upstreams",
            "with several upstreams, routes must say which path goes where".into(),
        ));
    }

    if let Some(bind) = cfg.admin.bind {
        if !bind.ip().is_loopback() && !cfg.admin.allow_public {
            return Err(err(
                "admin.bind".into(),
                "bind",
                format!(
                    "{bind} is not a loopback address; the admin API shows certificate and upstream details, so binding it publicly needs `allow_public: true`"
                ),
            ));
        }
    }

    // A zero timeout would close every connection at once; a zero cap would refuse them all;
    // a zero size would refuse every request head or certificate file. (A zero
    // `max_request_body_bytes` is usable: requests without a body only.)
    let l = &cfg.limits;
    let a = &cfg.admin;
    let mut timeouts = vec![
        ("limits.handshake_timeout", l.handshake_timeout),
        ("limits.header_read_timeout", l.header_read_timeout),
        ("limits.keepalive_timeout", l.keepalive_timeout),
        ("limits.http2_idle_timeout", l.http2_idle_timeout),
        ("limits.client_body_timeout", l.client_body_timeout),
        ("limits.send_timeout", l.send_timeout),
        ("admin.header_read_timeout", a.header_read_timeout),
        ("admin.idle_timeout", a.idle_timeout),
    ];
    let upstream_keys: Vec<(String, super::units::Duration)> = cfg
        .upstreams
        .iter()
        .flat_map(|(name, up)| {
            let t = &up.timeouts;
            [
                ("connect", Some(t.connect)),
                ("tls_handshake", Some(t.tls_handshake)),
                ("first_byte", Some(t.first_byte)),
                ("idle", Some(t.idle)),
                ("total", t.total),
            ]
            .into_iter()
            .filter_map(move |(k, d)| d.map(|d| (format!("upstreams.{name}.timeouts.{k}"), d)))
        })
        .collect();
    timeouts.extend(upstream_keys.iter().map(|(k, d)| (k.as_str(), *d)));
    for (key, d) in timeouts {
        if d.get().is_zero() {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            return Err(err(key.into(), leaf, "must be longer than 0s".into()));
        }
    }
    for (key, zero, what) in [
        (
            "limits.max_connections",
            l.max_connections == 0,
            "every connection would be refused",
        ),
        (
            "limits.max_connections_per_ip",
            l.max_connections_per_ip == Some(0),
            "every connection would be refused; write none for no cap",
        ),
        (
            "limits.http2_max_concurrent_streams",
            l.http2_max_concurrent_streams == 0,
            "no HTTP/2 request could ever be sent; remove h2 from tls.alpn to switch HTTP/2 off",
        ),
        (
            "limits.max_request_header_bytes",
            l.max_request_header_bytes.0 == 0,
            "every request would be refused",
        ),
        (
            "limits.max_cert_file_bytes",
            l.max_cert_file_bytes.0 == 0,
            "every certificate file would be refused",
        ),
        (
            "admin.max_connections",
            a.max_connections == 0,
            "every admin connection would be refused",
        ),
    ] {
        if zero {
            let leaf = key.rsplit('.').next().unwrap_or(key);
            return Err(err(key.into(), leaf, format!("must be at least 1: {what}")));
        }
    }
    Ok(())
}

impl Config {
    /// The routes in effect: the configured ones, or everything to the only upstream.
    pub fn effective_routes(&self) -> Vec<Route> {
        if !self.routes.is_empty() {
            return self.routes.clone();
        }
        self.upstreams
            .keys()
            .next()
            .map(|name| {
                vec![Route {
                    path_prefix: "/".into(),
                    upstream: name.clone(),
                }]
            })
            .unwrap_or_default()
    }

    /// Applies `serve --upstream URL` and `--listen ADDR`.
    ///
    /// `--upstream` replaces every upstream and route with one upstream named `default`. Injected
    /// headers are kept only when the new URL has the same host as the replaced single upstream,
    /// so a provider key is never sent to a host it was not configured for.
    pub fn apply_overrides(
        &mut self,
        upstream: Option<&str>,
        listen: Option<SocketAddr>,
    ) -> Result<(), ConfigError> {
        if let Some(url) = upstream {
            let parsed = UpstreamUrl::parse(url).map_err(|e| ConfigError::Invalid {
                origin: "--upstream".into(),
                key: "--upstream".into(),
                message: e.to_string(),
                line: None,
                column: None,
            })?;
            let mut up = if self.upstreams.len() == 1 {
                self.upstreams.values().next().cloned()
            } else {
                None
            }
            .unwrap_or_else(|| default_upstream(url));
            let same_host = UpstreamUrl::parse(&up.url)
                .map(|old| old.host == parsed.host)
                .unwrap_or(false);
            if !same_host {
                up.set_headers.clear();
                up.tls.server_name = None;
            }
            up.url = url.to_string();
            self.upstreams.clear();
            self.upstreams.insert("default".into(), up);
            self.routes.clear();
        }
        if let Some(addr) = listen {
            match self.listeners.first_mut() {
                Some(l) => l.bind = addr,
                None => self.listeners.push(Listener {
                    name: "listener0".into(),
                    bind: addr,
                    proxy_protocol: ProxyProtocol::Off,
                    trusted_proxies: Vec::new(),
                    tls: None,
                }),
            }
        }
        Ok(())
    }
}

fn default_upstream(url: &str) -> Upstream {
    Upstream {
        url: url.to_string(),
        set_headers: Default::default(),
        tls: Default::default(),
        http_version: Default::default(),
        egress_proxy: None,
        timeouts: Default::default(),
    }
}

/// The built-in dev default: HTTPS on 127.0.0.1:8443 with the local dev certificate, everything
/// to api.openai.com with `Authorization: Bearer $OPENAI_API_KEY` when that is set.
pub fn builtin_default(
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    openai_api_key: Option<String>,
) -> Config {
    let mut up = default_upstream("https://api.openai.com");
    if let Some(k) = openai_api_key.filter(|k| !k.is_empty()) {
        up.set_headers
            .insert("authorization".into(), format!("Bearer {k}"));
    }
    let mut upstreams = std::collections::BTreeMap::new();
    upstreams.insert("openai".to_string(), up);
    Config {
        listeners: vec![Listener {
            name: "dev".into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            proxy_protocol: ProxyProtocol::Off,
            trusted_proxies: Vec::new(),
            tls: Some(ListenerTls {
                certificates: vec![CertificateSource {
                    cert,
                    key,
                    ca: Some(ca),
                    names: None,
                }],
                default_certificate: None,
                min_version: TlsVersion::Tls12,
                alpn: vec!["h2".into(), "http/1.1".into()],
                client_auth: None,
                session_tickets: None,
            }),
        }],
        routes: Vec::new(),
        upstreams,
        admin: Admin::default(),
        reload: Reload::default(),
        diagnostics: Diagnostics::default(),
        limits: Limits::default(),
        proxy: ProxySettings::default(),
        shutdown: Shutdown::default(),
    }
}

#[cfg(test)]
mod tests;
