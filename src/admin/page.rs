//! The HTML status page: the `/status` document for people, readable at a glance.
//!
//! Self-contained (no scripts, fonts, images or stylesheets from elsewhere: the admin port may
//! be reached through an SSH tunnel on a machine without internet access), refreshed every
//! 10 s by a `<meta http-equiv=refresh>`, and every value from the document is escaped: SNI
//! names, file paths and finding texts can carry whatever a client or a file put there.

use std::fmt::Write as _;

use crate::status::RequestCounts;

/// Below this many days a certificate is shown red.
const CRITICAL_DAYS: i64 = 7;
/// Below this many days a certificate is shown amber (the default `expiry_warning`); a
/// `cert_expiring_soon` finding turns it amber too, whatever the configured warning is.
const WARNING_DAYS: i64 = 30;
/// How many recent handshake failures the page lists per listener (`/status` keeps more).
const RECENT_SHOWN: usize = 6;

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as escaped text (`–` for null or absent).
fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => esc(s),
        serde_json::Value::Null => "–".into(),
        other => esc(&other.to_string()),
    }
}

fn items(v: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    v.as_array().into_iter().flatten()
}

/// A level for colouring: `ok`, `warn`, `err` or `mute`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Level {
    Mute,
    Ok,
    Warn,
    Err,
}

impl Level {
    fn class(self) -> &'static str {
        match self {
            Level::Mute => "mute",
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Err => "err",
        }
    }
}

fn pill(level: Level, label: &str) -> String {
    format!("<span class='pill {}'>{}</span>", level.class(), esc(label))
}

fn finding_level(f: &serde_json::Value) -> Level {
    match f["severity"].as_str() {
        Some("error") => Level::Err,
        Some("warning") => Level::Warn,
        _ => Level::Mute,
    }
}

/// Findings as a list: severity, code, summary and fix. Errors and warnings are listed; infos
/// (notes that need no action) are folded into a `<details>` so they do not push the rest of
/// the page down.
fn findings_html(findings: &serde_json::Value) -> String {
    let one = |f: &serde_json::Value| {
        let lvl = finding_level(f);
        let mut h = format!(
            "<li><span class='sev {}'>{}</span> <code>{}</code> {}",
            lvl.class(),
            text(&f["severity"]),
            text(&f["code"]),
            text(&f["summary"]),
        );
        if let Some(fix) = f["fix"].as_str().filter(|s| !s.is_empty()) {
            let _ = write!(h, "<div class=fix>fix: {}</div>", esc(fix));
        }
        h.push_str("</li>");
        h
    };
    let (notes, important): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) =
        items(findings).partition(|f| finding_level(f) == Level::Mute);
    let mut h = String::new();
    if !important.is_empty() {
        h.push_str("<ul class=findings>");
        for f in important {
            h.push_str(&one(f));
        }
        h.push_str("</ul>");
    }
    if !notes.is_empty() {
        let codes: Vec<String> = notes.iter().map(|f| text(&f["code"])).collect();
        let _ = write!(
            h,
            "<details><summary>{} note{}: {}</summary><ul class=findings>",
            notes.len(),
            if notes.len() == 1 { "" } else { "s" },
            codes.join(", ")
        );
        for f in notes {
            h.push_str(&one(f));
        }
        h.push_str("</ul></details>");
    }
    h
}

fn cert_level(c: &serde_json::Value) -> Level {
    let days = c["days_left"].as_i64().unwrap_or(0);
    let has = |code: &str| items(&c["findings"]).any(|f| f["code"] == code);
    if days < CRITICAL_DAYS || has("cert_expired") {
        Level::Err
    } else if days < WARNING_DAYS || has("cert_expiring_soon") {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// The worst severity among findings (`Mute` when there are none or only infos).
fn worst_finding(findings: &serde_json::Value) -> Level {
    items(findings)
        .map(finding_level)
        .filter(|l| *l != Level::Mute)
        .max()
        .unwrap_or(Level::Mute)
}

/// A certificate's overall health: its expiry and its findings (an incomplete chain is as
/// urgent as an expiry).
fn cert_health(c: &serde_json::Value) -> Level {
    cert_level(c).max(worst_finding(&c["findings"]))
}

/// "ok", "1 error", "2 warnings", "1 error, 1 warning".
fn health_label(findings: &serde_json::Value) -> String {
    let count = |sev: &str| items(findings).filter(|f| f["severity"] == sev).count();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let mut parts = Vec::new();
    let (e, w) = (count("error"), count("warning"));
    if e > 0 {
        parts.push(plural(e, "error"));
    }
    if w > 0 {
        parts.push(plural(w, "warning"));
    }
    if parts.is_empty() {
        "ok".into()
    } else {
        parts.join(", ")
    }
}

fn upstream_level(status: &str) -> Level {
    match status {
        "healthy" => Level::Ok,
        "degraded" => Level::Warn,
        "failing" => Level::Err,
        _ => Level::Mute,
    }
}

/// "12 days left", "expires today", "expired 3 days ago".
fn days_phrase(days: i64) -> String {
    match days {
        d if d < -1 => format!("expired {} days ago", -d),
        -1 => "expired yesterday".into(),
        0 => "expires within a day".into(),
        1 => "1 day left".into(),
        d => format!("{d} days left"),
    }
}

/// The date part of an RFC 3339 timestamp ("2026-03-01T…" → "2026-03-01").
fn date_of(v: &serde_json::Value) -> String {
    match v.as_str() {
        Some(s) => esc(s.split('T').next().unwrap_or(s)),
        None => "–".into(),
    }
}

/// Renders the status page from the `/status` document and the request counts.
pub fn render(status: &serde_json::Value, requests: &RequestCounts) -> String {
    let listeners: Vec<&serde_json::Value> = items(&status["listeners"]).collect();
    let certs: Vec<(&serde_json::Value, &serde_json::Value)> = listeners
        .iter()
        .flat_map(|l| items(&l["certificates"]).map(move |c| (*l, c)))
        .collect();
    let upstreams: Vec<&serde_json::Value> = items(&status["upstreams"]).collect();
    let reload = &status["reload"];

    // ---- the four headline cards -------------------------------------------------------------
    let soonest = certs
        .iter()
        .filter_map(|(_, c)| c["days_left"].as_i64().map(|d| (d, *c)))
        .min_by_key(|(d, _)| *d);
    let cert_card = match soonest {
        Some((d, c)) => {
            let worst = certs
                .iter()
                .map(|(_, c)| cert_health(c))
                .max()
                .unwrap_or(Level::Ok);
            let with_errors = certs
                .iter()
                .filter(|(_, c)| worst_finding(&c["findings"]) == Level::Err)
                .count();
            card(
                worst,
                "Certificates",
                &days_phrase(d),
                &format!(
                    "soonest of {} served: {}{}",
                    certs.len(),
                    first_name(c),
                    match with_errors {
                        0 => String::new(),
                        n => format!(" · <b class=errtext>{n} with errors</b>"),
                    }
                ),
            )
        }
        None => card(
            Level::Mute,
            "Certificates",
            "none",
            "no TLS listener (plain HTTP only)",
        ),
    };
    let hs_total: u64 = listeners
        .iter()
        .filter_map(|l| l["handshake_failures"]["total"].as_u64())
        .sum();
    let top_cause = listeners
        .iter()
        .filter_map(|l| l["handshake_failures"]["by_code"].as_object())
        .flat_map(|m| m.iter())
        .filter_map(|(k, v)| v.as_u64().map(|n| (n, k.clone())))
        .max();
    let hs_card = card(
        if hs_total == 0 {
            Level::Ok
        } else {
            Level::Warn
        },
        "Handshake failures",
        &hs_total.to_string(),
        &match top_cause {
            Some((n, code)) => format!("most: {} ({n})", esc(&code)),
            None => "since start".into(),
        },
    );
    let up_names = upstream_names(&upstreams, requests);
    let failing_5xx: u64 = requests
        .values()
        .filter_map(|m| m.get("5xx"))
        .copied()
        .sum();
    let total_requests: u64 = requests.values().flat_map(|m| m.values()).sum();
    let worst_up = upstreams
        .iter()
        .map(|u| upstream_level(u["status"].as_str().unwrap_or("")))
        .max()
        .unwrap_or(Level::Mute);
    let healthy = upstreams
        .iter()
        .filter(|u| u["status"] == "healthy")
        .count();
    let up_level = if failing_5xx > 0 {
        worst_up.max(Level::Warn)
    } else if worst_up == Level::Mute && total_requests > 0 {
        Level::Ok
    } else {
        worst_up
    };
    let up_card = card(
        up_level,
        "Upstreams",
        &if upstreams.is_empty() {
            format!("{} in use", up_names.len())
        } else {
            format!("{healthy}/{} healthy", upstreams.len())
        },
        &format!(
            "{total_requests} requests, {failing_5xx} answered 5xx{}",
            if upstreams.is_empty() {
                " · not checked yet"
            } else {
                ""
            }
        ),
    );
    let reload_result = reload["result"].as_str().unwrap_or("none");
    let reload_card = card(
        match reload_result {
            "ok" => Level::Ok,
            "rejected" => Level::Err,
            _ => Level::Mute,
        },
        "Last reload",
        if reload_result == "none" {
            "none yet"
        } else {
            reload_result
        },
        &match reload["last_attempt_at"].as_str() {
            Some(at) => format!("at {}", esc(at)),
            None => "certificates as loaded at start".into(),
        },
    );
    let overall = [
        certs
            .iter()
            .map(|(_, c)| cert_health(c))
            .max()
            .unwrap_or(Level::Mute),
        if reload_result == "rejected" {
            Level::Err
        } else {
            Level::Mute
        },
        up_level,
    ]
    .into_iter()
    .max()
    .unwrap_or(Level::Mute);
    let overall_label = match overall {
        Level::Err => "needs attention",
        Level::Warn => "warnings",
        _ => "all good",
    };

    let mut h = String::with_capacity(16 * 1024);
    h.push_str(HEAD);
    let _ = write!(
        h,
        "<header><h1>tlsgate <small>{}</small></h1>{}<span class=meta>started {} · refreshes every 10 s · JSON at <a href=/status>/status</a>, metrics at <a href=/metrics>/metrics</a></span></header>",
        text(&status["version"]),
        pill(overall, overall_label),
        text(&status["started_at"]),
    );
    let _ = write!(
        h,
        "<div class=cards>{cert_card}{hs_card}{up_card}{reload_card}</div>"
    );

    // ---- certificate expiry ------------------------------------------------------------------
    h.push_str("<section><h2>Certificate expiry</h2>");
    if certs.is_empty() {
        h.push_str("<p class=mute>No certificates: every listener is plain HTTP.</p>");
    } else {
        // One scale for all bars so they compare: at least 90 days (a Let's Encrypt lifetime),
        // at most ~13 months (the longest publicly trusted lifetime).
        let scale = certs
            .iter()
            .filter_map(|(_, c)| c["days_left"].as_i64())
            .max()
            .unwrap_or(90)
            .clamp(90, 400);
        let tick = |d: i64| (d * 1000 / scale) as f64 / 10.0;
        for (l, c) in &certs {
            let days = c["days_left"].as_i64().unwrap_or(0);
            let lvl = cert_level(c);
            let pct = (days.clamp(0, scale) * 1000 / scale) as f64 / 10.0;
            let sans: Vec<String> = items(&c["sans"]).map(text).collect();
            let fp = c["fingerprint_sha256"].as_str().unwrap_or("");
            let _ = write!(
                h,
                "<div class='cert {cls}'>\
<div class=certhead><span class=name>{name}</span> {health} <span class=mute>listener {listener} · {bind}</span></div>\
<div class=row><div class='track{expired}'><div class='fill {cls}' style='width:{pct}%'></div>\
<span class=tick style='left:{t30}%'>{warn_days}d</span><span class=tick style='left:{t7}%'>{crit_days}d</span></div>\
<div class='days {cls}'>{phrase}</div></div>\
<div class=detail>expires <strong>{not_after}</strong> · names {sans} · issuer {issuer} · sha256 <code>{fp}…</code> · loaded {loaded}<br>\
cert <code>{cert_file}</code> key <code>{key_file}</code></div>{findings}</div>",
                cls = lvl.class(),
                name = first_name(c),
                health = pill(worst_finding(&c["findings"]).max(Level::Ok), &health_label(&c["findings"])),
                listener = text(&l["name"]),
                bind = text(&l["bind"]),
                expired = if days < 0 { " expired" } else { "" },
                t30 = tick(WARNING_DAYS),
                t7 = tick(CRITICAL_DAYS),
                warn_days = WARNING_DAYS,
                crit_days = CRITICAL_DAYS,
                phrase = esc(&days_phrase(days)),
                not_after = date_of(&c["not_after"]),
                sans = if sans.is_empty() {
                    "–".to_string()
                } else {
                    sans.join(", ")
                },
                issuer = text(&c["issuer"]),
                fp = esc(fp.get(..16).unwrap_or(fp)),
                loaded = text(&c["loaded_at"]),
                cert_file = text(&c["cert_file"]),
                key_file = text(&c["key_file"]),
                findings = findings_html(&c["findings"]),
            );
        }
    }
    h.push_str("</section>");

    // ---- handshake failures ------------------------------------------------------------------
    h.push_str("<section><h2>Handshake failures by cause</h2>");
    for l in &listeners {
        if l["tls"] == false {
            continue;
        }
        let hf = &l["handshake_failures"];
        let _ = write!(
            h,
            "<h3>listener {} <span class=mute>· {} in total</span></h3>",
            text(&l["name"]),
            text(&hf["total"])
        );
        let mut by: Vec<(String, u64)> = hf["by_code"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        if by.is_empty() {
            h.push_str("<p class=mute>None since start.</p>");
            continue;
        }
        by.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let max = by.first().map(|(_, n)| *n).unwrap_or(1).max(1);
        h.push_str("<table class=causes>");
        for (code, n) in &by {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td class=num>{n}</td><td class=barcell><div class=hbar style='width:{}%'></div></td></tr>",
                esc(code),
                (n * 1000 / max) as f64 / 10.0
            );
        }
        h.push_str("</table>");
        let recent: Vec<&serde_json::Value> = items(&hf["recent"]).collect();
        if !recent.is_empty() {
            h.push_str("<table class=recent><tr><th>when</th><th>cause</th><th>SNI</th><th>peer</th><th>what happened</th></tr>");
            for e in recent.iter().rev().take(RECENT_SHOWN) {
                let _ = write!(
                    h,
                    "<tr><td class=nowrap>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    text(&e["at"]),
                    text(&e["code"]),
                    text(&e["sni"]),
                    text(&e["peer"]),
                    text(&e["summary"]),
                );
            }
            h.push_str("</table>");
        }
    }
    h.push_str("</section>");

    // ---- upstreams ---------------------------------------------------------------------------
    h.push_str("<section><h2>Upstreams</h2>");
    if up_names.is_empty() {
        h.push_str("<p class=mute>No upstream checked or used yet.</p>");
    } else {
        h.push_str("<table class=ups><tr><th>upstream</th><th>last check</th><th>TLS</th><th>requests</th><th>findings</th></tr>");
        for name in &up_names {
            let u = upstreams.iter().find(|u| u["name"] == name.as_str());
            let st = u.and_then(|u| u["status"].as_str()).unwrap_or("unchecked");
            let counts = requests.get(name);
            let mut req = String::new();
            for (class, n) in counts.into_iter().flatten() {
                let lvl = match class.as_str() {
                    "5xx" => Level::Err,
                    "4xx" => Level::Warn,
                    _ => Level::Ok,
                };
                let _ = write!(
                    req,
                    "<span class='cnt {}'>{}&nbsp;{}</span> ",
                    lvl.class(),
                    esc(class),
                    n
                );
            }
            if req.is_empty() {
                req.push_str("<span class=mute>none</span>");
            }
            let (url, checked, tls, chain, findings) = match u {
                Some(u) => {
                    let chain: Vec<String> = items(&u["chain"])
                        .map(|c| {
                            format!(
                                "{} (until {})",
                                text(&c["subject"]),
                                date_of(&c["not_after"])
                            )
                        })
                        .collect();
                    (
                        text(&u["url"]),
                        text(&u["checked_at"]),
                        format!(
                            "{} {} {}",
                            text(&u["tls_version"]),
                            text(&u["cipher"]),
                            text(&u["alpn"])
                        ),
                        if chain.is_empty() {
                            String::new()
                        } else {
                            format!("<div class=detail>chain: {}</div>", chain.join(" → "))
                        },
                        findings_html(&u["findings"]),
                    )
                }
                None => (
                    String::new(),
                    "–".into(),
                    "–".into(),
                    String::new(),
                    String::new(),
                ),
            };
            let _ = write!(
                h,
                "<tr><td><strong>{}</strong> {}<div class=detail>{}</div></td><td class=nowrap>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                pill(upstream_level(st), st),
                url,
                checked,
                tls,
                chain,
                req,
                findings,
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");

    // ---- last reload -------------------------------------------------------------------------
    let _ = write!(
        h,
        "<section><h2>Last reload</h2><p>{} {}</p>{}</section>",
        pill(
            match reload_result {
                "ok" => Level::Ok,
                "rejected" => Level::Err,
                _ => Level::Mute,
            },
            reload_result
        ),
        match reload["last_attempt_at"].as_str() {
            Some(at) => format!("at {}", esc(at)),
            None => "no reload attempted since start".into(),
        },
        if reload_result == "rejected" {
            format!(
                "<p>The previous certificates are still served. Why the new files were refused:</p>{}",
                findings_html(&reload["findings"])
            )
        } else {
            findings_html(&reload["findings"])
        }
    );
    h.push_str("</body></html>\n");
    h
}

/// The name a person knows a certificate by: its first SAN, else its subject.
fn first_name(c: &serde_json::Value) -> String {
    match c["sans"].as_array().and_then(|a| a.first()) {
        Some(n) => text(n),
        None => text(&c["subject"]),
    }
}

/// Upstreams from the checks, then those only seen in request counts.
fn upstream_names(upstreams: &[&serde_json::Value], requests: &RequestCounts) -> Vec<String> {
    let mut names: Vec<String> = upstreams
        .iter()
        .filter_map(|u| u["name"].as_str().map(str::to_string))
        .collect();
    for n in requests.keys() {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// A headline card; `small` is HTML (its parts escaped by the caller).
fn card(level: Level, title: &str, big: &str, small: &str) -> String {
    format!(
        "<div class='card {}'><div class=ct>{}</div><div class=big>{}</div><div class=small>{}</div></div>",
        level.class(),
        esc(title),
        esc(big),
        small
    )
}

const HEAD: &str = "<!doctype html><html lang=en><head><meta charset=utf-8>\
<meta http-equiv=refresh content=10><meta name=viewport content='width=device-width'>\
<title>tlsgate status</title><style>\
:root{--ok:#2e7d32;--warn:#c77700;--err:#c62828;--mute:#607d8b;--line:#e3e6ea}\
*{box-sizing:border-box}\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;padding:20px 28px;color:#1f2328;background:#f6f7f9}\
header{display:flex;align-items:center;gap:14px;flex-wrap:wrap;margin-bottom:16px}\
h1{font-size:22px;margin:0}h1 small{font-size:14px;color:var(--mute);font-weight:normal}\
h2{font-size:16px;margin:0 0 10px}h3{font-size:14px;margin:12px 0 6px}\
a{color:#0b57d0}.meta{color:var(--mute);font-size:12px}\
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:14px 18px;margin-bottom:16px}\
.cards{display:grid;grid-template-columns:repeat(4,1fr);gap:12px;margin-bottom:16px}\
.card{background:#fff;border:1px solid var(--line);border-left:6px solid var(--mute);border-radius:8px;padding:10px 14px}\
.card.ok{border-left-color:var(--ok)}.card.warn{border-left-color:var(--warn)}.card.err{border-left-color:var(--err)}\
.ct{font-size:12px;text-transform:uppercase;letter-spacing:.05em;color:var(--mute)}\
.big{font-size:24px;font-weight:600;margin:2px 0}.card.ok .big{color:var(--ok)}.card.warn .big{color:var(--warn)}.card.err .big{color:var(--err)}\
.small{font-size:12px;color:#57606a;overflow-wrap:anywhere}\
.pill{display:inline-block;padding:2px 10px;border-radius:999px;color:#fff;font-size:12px;font-weight:600;background:var(--mute)}\
.pill.mute{background:#e3e6ea;color:#37474f}.pill.ok{background:var(--ok)}.pill.warn{background:var(--warn)}.pill.err{background:var(--err)}\
.cert{padding:10px 0;border-top:1px solid var(--line)}.cert:first-of-type{border-top:0}\
.certhead .name{font-weight:600;font-size:15px}\
.row{display:flex;align-items:center;gap:14px;margin:6px 0}\
.track{flex:1;height:18px;background:#eceff1;border-radius:4px;position:relative}\
.track.expired{background:repeating-linear-gradient(45deg,#fde0e0,#fde0e0 6px,#f8c4c4 6px,#f8c4c4 12px)}\
.fill{height:18px;border-radius:4px;background:var(--mute)}.fill.ok{background:var(--ok)}.fill.warn{background:var(--warn)}.fill.err{background:var(--err)}\
.tick{position:absolute;top:-2px;height:22px;border-left:2px dashed #90a4ae;font-size:10px;color:#78909c;padding-left:3px;line-height:22px}\
.days{min-width:190px;font-size:20px;font-weight:700;text-align:right}.days.ok{color:var(--ok)}.days.warn{color:var(--warn)}.days.err{color:var(--err)}\
.detail{font-size:12px;color:#57606a;overflow-wrap:anywhere}\
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f0f2f4;padding:0 4px;border-radius:3px}\
ul.findings{margin:6px 0 0;padding-left:18px}ul.findings li{margin:2px 0}.fix{color:#57606a;font-size:12px}\
.sev{font-size:11px;font-weight:700;text-transform:uppercase}.sev.err{color:var(--err)}.sev.warn{color:var(--warn)}.sev.mute{color:var(--mute)}\
table{border-collapse:collapse;width:100%;margin:4px 0 8px}\
td,th{border-bottom:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}th{font-size:12px;color:var(--mute);font-weight:600}\
table.causes{width:auto;min-width:60%}.num{text-align:right;font-weight:700;width:4em}.barcell{width:340px}\
.hbar{height:14px;background:var(--warn);border-radius:3px;min-width:2px}\
details{margin:4px 0 0 18px;font-size:12px;color:#57606a}summary{cursor:pointer}.errtext{color:var(--err)}\
.nowrap{white-space:nowrap}.mute{color:var(--mute)}\
.cnt{display:inline-block;font-size:12px;font-weight:600;padding:0 6px;border-radius:4px;margin:1px 0}\
.cnt.ok{background:#e6f4ea;color:var(--ok)}.cnt.warn{background:#fff4e0;color:var(--warn)}.cnt.err{background:#fde7e7;color:var(--err)}\
</style></head><body>";

#[cfg(test)]
mod tests;
