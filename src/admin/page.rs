//! The HTML status page: the `/status` document for people, self-contained (no external assets).

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => esc(s),
        serde_json::Value::Null => "–".into(),
        other => esc(&other.to_string()),
    }
}

/// Renders the status page.
pub fn render(status: &serde_json::Value) -> String {
    let mut h = String::from(
        "<!doctype html><html><head><meta charset=utf-8><title>tlsgate status</title><style>\
body{font:14px system-ui,sans-serif;margin:2em;color:#222}h1{font-size:20px}h2{font-size:16px;margin-top:1.5em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
.bar{height:14px;background:#eee;width:240px;position:relative}.fill{height:14px}\
.ok{background:#2e7d32}.warn{background:#f9a825}.err{background:#c62828}.sev-error{color:#c62828}.sev-warning{color:#b26a00}\
</style></head><body>",
    );
    h.push_str(&format!(
        "<h1>tlsgate {}</h1><p>started {}</p>",
        text(&status["version"]),
        text(&status["started_at"])
    ));
    for l in status["listeners"].as_array().into_iter().flatten() {
        h.push_str(&format!(
            "<h2>Listener {} on {}</h2>",
            text(&l["name"]),
            text(&l["bind"])
        ));
        let certs = l["certificates"].as_array().cloned().unwrap_or_default();
        if !certs.is_empty() {
            h.push_str("<table><tr><th>certificate</th><th>names</th><th>expires</th><th>days left</th><th>findings</th></tr>");
            for c in certs {
                let days = c["days_left"].as_i64().unwrap_or(0);
                // The bar spans a year: full when 365+ days remain.
                let pct = (days.clamp(0, 365) * 100) / 365;
                let class = if days < 7 {
                    "err"
                } else if days < 30 {
                    "warn"
                } else {
                    "ok"
                };
                let sans: Vec<String> = c["sans"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(text)
                    .collect();
                let findings: Vec<String> = c["findings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        format!(
                            "<span class=sev-{}>{}</span>: {}",
                            text(&f["severity"]),
                            text(&f["code"]),
                            text(&f["summary"])
                        )
                    })
                    .collect();
                h.push_str(&format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td><div class=bar><div class='fill {class}' style='width:{pct}%'></div></div>{days} days</td><td>{}</td></tr>",
                    text(&c["subject"]),
                    sans.join(", "),
                    text(&c["not_after"]),
                    if findings.is_empty() { "none".to_string() } else { findings.join("<br>") }
                ));
            }
            h.push_str("</table>");
        }
        let hf = &l["handshake_failures"];
        h.push_str(&format!(
            "<p>Handshake failures: {}</p>",
            text(&hf["total"])
        ));
        if let Some(by) = hf["by_code"].as_object() {
            let max = by
                .values()
                .filter_map(|v| v.as_u64())
                .max()
                .unwrap_or(1)
                .max(1);
            h.push_str("<table>");
            for (code, n) in by {
                let n = n.as_u64().unwrap_or(0);
                h.push_str(&format!(
                    "<tr><td>{}</td><td>{n}</td><td><div class=bar><div class='fill warn' style='width:{}%'></div></div></td></tr>",
                    esc(code),
                    n * 100 / max
                ));
            }
            h.push_str("</table>");
        }
    }
    h.push_str("<h2>Upstreams</h2><table><tr><th>name</th><th>url</th><th>status</th><th>TLS</th><th>findings</th></tr>");
    for u in status["upstreams"].as_array().into_iter().flatten() {
        let findings: Vec<String> = u["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| format!("{}: {}", text(&f["code"]), text(&f["summary"])))
            .collect();
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td></tr>",
            text(&u["name"]),
            text(&u["url"]),
            text(&u["status"]),
            text(&u["tls_version"]),
            text(&u["cipher"]),
            findings.join("<br>")
        ));
    }
    h.push_str("</table>");
    let r = &status["reload"];
    h.push_str(&format!(
        "<h2>Last reload</h2><p>{} at {}</p></body></html>",
        text(&r["result"]),
        text(&r["last_attempt_at"])
    ));
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_untrusted_text() {
        let s = serde_json::json!({"version": "1", "listeners": [{"name": "<script>", "bind": "x", "certificates": [], "handshake_failures": {"total": 0, "by_code": {}}}], "upstreams": [], "reload": {}});
        let html = super::render(&s);
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
