//! Real clients of tlsgate, each set up the way its own ecosystem trusts a private CA and caps
//! its TLS version, run once against a URL and bounded in time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::proc::{require_peer, run_bounded, run_bounded_input, scrubbed, Run};

/// The clients the issue names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    Node,
    Java,
    Chromium,
    Requests,
    Httpx,
    Curl,
    OpenSsl,
}

/// One run's parameters.
pub struct Target<'a> {
    /// The URL the client opens (`https://localhost:PORT/` or `https://127.0.0.1:PORT/`).
    pub url: String,
    pub host: &'a str,
    pub port: u16,
    /// The root the client is told to trust; `None`: only its default store.
    pub trust: Option<&'a Path>,
    /// Cap the client at TLS 1.2.
    pub tls12_max: bool,
    /// Scratch space (trust stores, HOME, the Java source).
    pub work: &'a Path,
}

const CLIENT_TIMEOUT: Duration = Duration::from_secs(40);

const NODE_SCRIPT: &str = r#"
const https = require('https');
const req = https.get(process.argv[1], { timeout: 10000 }, (res) => {
  console.log('status ' + res.statusCode);
  res.resume();
  res.on('end', () => process.exit(0));
});
req.on('timeout', () => { console.log('error timeout'); req.destroy(); });
req.on('error', (e) => { console.log('error ' + e.code + ' ' + e.message); process.exit(1); });
"#;

const JAVA_SOURCE: &str = r#"
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;

public class Fetch {
    public static void main(String[] args) throws Exception {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpRequest req = HttpRequest.newBuilder(URI.create(args[0])).timeout(Duration.ofSeconds(10)).build();
        try {
            HttpResponse<String> res = client.send(req, HttpResponse.BodyHandlers.ofString());
            System.out.println("status " + res.statusCode());
        } catch (Exception e) {
            for (Throwable t = e; t != null; t = t.getCause()) {
                System.out.println("error " + t);
            }
            System.exit(1);
        }
    }
}
"#;

const REQUESTS_SCRIPT: &str = r#"
import ssl, sys
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.ssl_ import create_urllib3_context

class Tls12Max(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = create_urllib3_context(ssl_maximum_version=ssl.TLSVersion.TLSv1_2)
        return super().init_poolmanager(*args, **kwargs)

s = requests.Session()
if sys.argv[2] == "tls12":
    s.mount("https://", Tls12Max())
try:
    r = s.get(sys.argv[1], timeout=10)
    print("status", r.status_code)
except Exception as e:
    print("error", type(e).__name__, e)
    sys.exit(1)
"#;

const HTTPX_SCRIPT: &str = r#"
import os, ssl, sys
import httpx
kwargs = {}
if sys.argv[2] == "tls12":
    cafile = os.environ.get("SSL_CERT_FILE")
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    kwargs["verify"] = ctx
try:
    r = httpx.get(sys.argv[1], timeout=10, **kwargs)
    print("status", r.status_code)
except Exception as e:
    print("error", type(e).__name__, e)
    sys.exit(1)
"#;

impl Client {
    pub const ALL: [Client; 7] = [
        Client::Node,
        Client::Java,
        Client::Chromium,
        Client::Requests,
        Client::Httpx,
        Client::Curl,
        Client::OpenSsl,
    ];

    /// The test function's name before `_<scenario>`.
    pub fn test_prefix(self) -> &'static str {
        match self {
            Client::OpenSsl => "openssl_s_client",
            other => other.name(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Client::Node => "node",
            Client::Java => "java",
            Client::Chromium => "chromium",
            Client::Requests => "requests",
            Client::Httpx => "httpx",
            Client::Curl => "curl",
            Client::OpenSsl => "openssl s_client",
        }
    }

    /// The program, or `None` when it is missing and peers are not required.
    pub fn program(self) -> Option<PathBuf> {
        match self {
            Client::Node => require_peer("node", &["node", "nodejs"]),
            Client::Java => require_peer("java (default-jdk-headless)", &["java"]),
            Client::Chromium => {
                let chromium = require_peer("chromium", &["chromium", "chromium-browser"])?;
                require_peer("certutil (libnss3-tools)", &["certutil"])?;
                Some(chromium)
            }
            Client::Requests | Client::Httpx => {
                let py = require_peer("python3", &["python3"])?;
                let module = if self == Client::Requests {
                    "requests"
                } else {
                    "httpx"
                };
                let mut c = scrubbed(&py);
                c.args(["-c", &format!("import {module}")]);
                let ok = run_bounded(c, Duration::from_secs(30)).code() == Some(0);
                if ok {
                    Some(py)
                } else {
                    require_peer(&format!("python module {module}"), &[])
                }
            }
            Client::Curl => require_peer("curl", &["curl"]),
            Client::OpenSsl => require_peer("openssl", &["openssl"]),
        }
    }

    /// Runs the client once against `t.url`.
    pub fn run(self, program: &Path, t: &Target) -> Run {
        match self {
            Client::Node => {
                let mut c = scrubbed(program);
                c.arg("--dns-result-order=ipv4first");
                if t.tls12_max {
                    c.arg("--tls-max-v1.2");
                }
                c.arg("-e").arg(NODE_SCRIPT).arg(&t.url);
                if let Some(root) = t.trust {
                    c.env("NODE_EXTRA_CA_CERTS", root);
                }
                run_bounded(c, CLIENT_TIMEOUT)
            }
            Client::Java => {
                let src = t.work.join("Fetch.java");
                std::fs::write(&src, JAVA_SOURCE).unwrap();
                let mut c = scrubbed(program);
                c.arg("-Djava.net.preferIPv4Stack=true");
                if let Some(root) = t.trust {
                    let store = t.work.join("truststore.p12");
                    let keytool = program.with_file_name("keytool");
                    let keytool = if keytool.is_file() {
                        keytool
                    } else {
                        PathBuf::from("keytool")
                    };
                    let mut k = scrubbed(keytool);
                    k.args(["-importcert", "-noprompt", "-alias", "peers-root", "-file"])
                        .arg(root)
                        .arg("-keystore")
                        .arg(&store)
                        .args(["-storetype", "PKCS12", "-storepass", "changeit"]);
                    let r = run_bounded(k, Duration::from_secs(60));
                    assert_eq!(r.code(), Some(0), "keytool -importcert:\n{}", r.all());
                    c.arg(format!("-Djavax.net.ssl.trustStore={}", store.display()))
                        .arg("-Djavax.net.ssl.trustStorePassword=changeit")
                        .arg("-Djavax.net.ssl.trustStoreType=PKCS12");
                }
                if t.tls12_max {
                    c.arg("-Djdk.tls.client.protocols=TLSv1.2");
                }
                c.arg(&src).arg(&t.url);
                run_bounded(c, CLIENT_TIMEOUT)
            }
            Client::Chromium => {
                // Chromium on Linux trusts what is in $HOME/.pki/nssdb.
                let home = t.work.join("home");
                let db = home.join(".pki/nssdb");
                std::fs::create_dir_all(&db).unwrap();
                let dbarg = format!("sql:{}", db.display());
                let mut n = scrubbed("certutil");
                n.args(["-N", "--empty-password", "-d", &dbarg]);
                let r = run_bounded(n, Duration::from_secs(30));
                assert_eq!(r.code(), Some(0), "certutil -N:\n{}", r.all());
                if let Some(root) = t.trust {
                    let mut a = scrubbed("certutil");
                    a.args(["-A", "-t", "C,,", "-n", "peers-root", "-d", &dbarg, "-i"])
                        .arg(root);
                    let r = run_bounded(a, Duration::from_secs(30));
                    assert_eq!(r.code(), Some(0), "certutil -A:\n{}", r.all());
                }
                let profile = t.work.join("profile");
                let mut c = scrubbed(program);
                c.env("HOME", &home).args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                ]);
                c.arg(format!("--user-data-dir={}", profile.display()));
                if t.tls12_max {
                    c.arg("--ssl-version-max=tls1.2");
                }
                c.arg("--dump-dom").arg(&t.url);
                run_bounded(c, CLIENT_TIMEOUT)
            }
            Client::Requests | Client::Httpx => {
                let mut c = scrubbed(program);
                let script = if self == Client::Requests {
                    REQUESTS_SCRIPT
                } else {
                    HTTPX_SCRIPT
                };
                c.arg("-c").arg(script).arg(&t.url).arg(if t.tls12_max {
                    "tls12"
                } else {
                    "default"
                });
                if let Some(root) = t.trust {
                    let var = if self == Client::Requests {
                        "REQUESTS_CA_BUNDLE"
                    } else {
                        "SSL_CERT_FILE"
                    };
                    c.env(var, root);
                }
                run_bounded(c, CLIENT_TIMEOUT)
            }
            Client::Curl => {
                let mut c = scrubbed(program);
                c.args(["-sS", "-o", "/dev/null", "-w", "status %{http_code}\\n"])
                    .args(["--max-time", "10"])
                    .arg("--resolve")
                    .arg(format!("localhost:{}:127.0.0.1", t.port));
                if let Some(root) = t.trust {
                    c.arg("--cacert").arg(root);
                }
                if t.tls12_max {
                    c.args(["--tls-max", "1.2"]);
                }
                c.arg(&t.url);
                run_bounded(c, CLIENT_TIMEOUT)
            }
            Client::OpenSsl => {
                let mut c = scrubbed(program);
                c.arg("s_client")
                    .arg("-connect")
                    .arg(format!("127.0.0.1:{}", t.port))
                    .arg("-verify_return_error");
                if t.host.parse::<std::net::IpAddr>().is_ok() {
                    c.args(["-verify_ip", t.host]);
                } else {
                    c.args(["-servername", t.host, "-verify_hostname", t.host]);
                }
                if let Some(root) = t.trust {
                    c.arg("-CAfile").arg(root);
                }
                if t.tls12_max {
                    c.arg("-tls1_2");
                }
                run_bounded_input(
                    c,
                    Some(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n"),
                    CLIENT_TIMEOUT,
                )
            }
        }
    }
}
