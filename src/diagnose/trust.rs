//! How each client ecosystem is made to trust a private CA, and made to speak TLS 1.3, in its
//! own terms. The inbound findings name the setting of the client family the ClientHello points
//! at (all of them, most likely first, when the hello does not pin one); the dev banner and
//! `certs init` print every line.
//!
//! Pure text: the CA file is given, nothing is read.

use crate::wire::client_hello::{ClientFamily, ClientTool, Confidence, FamilyGuess};

/// One ecosystem's own way to trust a CA file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecosystem {
    Curl,
    OpenSslCli,
    /// Other programs linked against OpenSSL (wget, Ruby, PHP, ...).
    OpenSslOther,
    /// requests (urllib3): its own bundle, `SSL_CERT_FILE` is ignored.
    Requests,
    /// httpx, the OpenAI SDK, the `ssl` module.
    PythonSsl,
    NodeJs,
    Java,
    Chromium,
    Firefox,
    Go,
    Rustls,
    SystemDebian,
    SystemMacos,
}

impl Ecosystem {
    /// Every ecosystem, in the order the banner and `certs init` print them.
    pub const ALL: [Ecosystem; 13] = [
        Ecosystem::Curl,
        Ecosystem::OpenSslCli,
        Ecosystem::Requests,
        Ecosystem::PythonSsl,
        Ecosystem::NodeJs,
        Ecosystem::Java,
        Ecosystem::Chromium,
        Ecosystem::Firefox,
        Ecosystem::Go,
        Ecosystem::Rustls,
        Ecosystem::OpenSslOther,
        Ecosystem::SystemDebian,
        Ecosystem::SystemMacos,
    ];

    /// Who the line is for.
    pub fn who(self) -> &'static str {
        match self {
            Ecosystem::Curl => "curl",
            Ecosystem::OpenSslCli => "openssl s_client",
            Ecosystem::OpenSslOther => "other OpenSSL-based programs",
            Ecosystem::Requests => "Python requests",
            Ecosystem::PythonSsl => "httpx, OpenAI SDK, Python ssl",
            Ecosystem::NodeJs => "Node.js",
            Ecosystem::Java => "Java",
            Ecosystem::Chromium => "Chromium/Chrome",
            Ecosystem::Firefox => "Firefox",
            Ecosystem::Go => "Go",
            Ecosystem::Rustls => "rustls clients",
            Ecosystem::SystemDebian => "system store (Debian/Ubuntu)",
            Ecosystem::SystemMacos => "system store (macOS)",
        }
    }

    /// The setting or command that makes this ecosystem trust `ca` (an absolute path).
    pub fn how(self, ca: &str) -> String {
        match self {
            Ecosystem::Curl => format!("curl --cacert {ca} https://HOST:PORT/"),
            Ecosystem::OpenSslCli => format!(
                "openssl s_client -CAfile {ca} -connect HOST:PORT (the same -CAfile for the other openssl commands)"
            ),
            Ecosystem::OpenSslOther => format!(
                "export SSL_CERT_FILE={ca} (replaces OpenSSL's default bundle for that process)"
            ),
            Ecosystem::Requests => format!(
                "export REQUESTS_CA_BUNDLE={ca} (requests ignores SSL_CERT_FILE; or verify=\"{ca}\")"
            ),
            Ecosystem::PythonSsl => format!(
                "export SSL_CERT_FILE={ca} (it REPLACES the default store: if the process also calls public services, cat \"$(python3 -m certifi)\" {ca} > bundle.pem and export SSL_CERT_FILE=$PWD/bundle.pem)"
            ),
            Ecosystem::NodeJs => format!("export NODE_EXTRA_CA_CERTS={ca} (read at process start)"),
            Ecosystem::Java => format!(
                "keytool -importcert -noprompt -alias private-ca -file {ca} -keystore truststore.p12 -storetype PKCS12 -storepass changeit, then run java with -Djavax.net.ssl.trustStore=truststore.p12 -Djavax.net.ssl.trustStorePassword=changeit (or import it into $JAVA_HOME/lib/security/cacerts)"
            ),
            Ecosystem::Chromium => format!(
                "certutil -d sql:$HOME/.pki/nssdb -A -t \"C,,\" -n private-ca -i {ca} (Linux; Chrome and Edge on macOS and Windows use the system store)"
            ),
            Ecosystem::Firefox => format!(
                "Settings → Privacy & Security → Certificates → Import {ca}, or certutil -d sql:PROFILE_DIR -A -t \"C,,\" -n private-ca -i {ca}"
            ),
            Ecosystem::Go => format!(
                "export SSL_CERT_FILE={ca} on Linux (replaces the system bundle), or add it to the system store"
            ),
            Ecosystem::Rustls => format!(
                "add {ca} to the client's RootCertStore (webpki-roots builds ignore the system store; rustls-native-certs and rustls-platform-verifier builds use the system store, and SSL_CERT_FILE={ca})"
            ),
            Ecosystem::SystemDebian => format!(
                "sudo cp {ca} /usr/local/share/ca-certificates/private-ca.crt && sudo update-ca-certificates"
            ),
            Ecosystem::SystemMacos => format!(
                "sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {ca}"
            ),
        }
    }

    /// "who: how".
    pub fn line(self, ca: &str) -> String {
        format!("{}: {}", self.who(), self.how(ca))
    }
}

/// The ecosystems of a family, the one the tool suggests first.
pub fn ecosystems(family: ClientFamily, tool: Option<ClientTool>) -> Vec<Ecosystem> {
    use Ecosystem as E;
    match family {
        ClientFamily::OpenSsl => match tool {
            Some(ClientTool::OpenSslCli) => vec![E::OpenSslCli, E::Curl, E::OpenSslOther],
            _ => vec![E::Curl, E::OpenSslCli, E::OpenSslOther],
        },
        ClientFamily::Python => match tool {
            Some(ClientTool::PythonSsl) => vec![E::PythonSsl, E::Requests],
            _ => vec![E::Requests, E::PythonSsl],
        },
        ClientFamily::NodeJs => vec![E::NodeJs],
        ClientFamily::Java => vec![E::Java],
        ClientFamily::Chromium => vec![E::Chromium],
        ClientFamily::Firefox => vec![E::Firefox],
        ClientFamily::Go => vec![E::Go],
        ClientFamily::Rustls => vec![E::Rustls],
    }
}

fn family_lines(family: ClientFamily, tool: Option<ClientTool>, ca: &str) -> String {
    ecosystems(family, tool)
        .into_iter()
        .map(|e| e.line(ca))
        .collect::<Vec<_>>()
        .join("; ")
}

/// How to make the client that sent `guess` trust `ca`: its family's setting when the hello
/// pins it; the guess first and the other families after it when it does not; every family
/// when nothing is known.
pub fn trust_advice(guess: Option<&FamilyGuess>, ca: &str) -> String {
    let others = |skip: Option<ClientFamily>| -> String {
        ClientFamily::ALL
            .into_iter()
            .filter(|f| Some(*f) != skip)
            .map(|f| family_lines(f, None, ca))
            .collect::<Vec<_>>()
            .join("; ")
    };
    match guess {
        Some(g) if g.confidence == Confidence::High => format!(
            "Make the client trust {ca}. The hello looks like {}: {}",
            g.family.name(),
            family_lines(g.family, g.tool, ca)
        ),
        Some(g) => format!(
            "Make the client trust {ca}. The hello most likely comes from {}: {}. If it is another client: {}",
            g.family.name(),
            family_lines(g.family, g.tool, ca),
            others(Some(g.family))
        ),
        None => format!(
            "Make the client trust {ca}; the hello does not tell which client it is, so each: {}",
            others(None)
        ),
    }
}

/// How a client of `family` is made to offer TLS 1.3 (it offered at most TLS 1.2).
pub fn enable_tls13(family: Option<ClientFamily>) -> &'static str {
    match family {
        Some(ClientFamily::NodeJs) => {
            "Node.js: drop --tls-max-v1.2 / maxVersion: 'TLSv1.2' (Node speaks TLS 1.3 by default)"
        }
        Some(ClientFamily::Java) => {
            "Java: -Djdk.tls.client.protocols=TLSv1.3,TLSv1.2 (or drop the TLSv1.2-only setting)"
        }
        Some(ClientFamily::Chromium) => {
            "Chromium: drop --ssl-version-max (or the SSLVersionMax policy)"
        }
        Some(ClientFamily::Python) => {
            "Python: do not cap ssl_context.maximum_version (or set it to ssl.TLSVersion.TLSv1_3)"
        }
        Some(ClientFamily::OpenSsl) => {
            "curl: drop --tls-max 1.2 (or --tls-max 1.3); openssl s_client: drop -tls1_2"
        }
        Some(ClientFamily::Go) => "Go: tls.Config{MaxVersion: tls.VersionTLS13} (or leave it 0)",
        Some(ClientFamily::Firefox) => "Firefox: security.tls.version.max = 4",
        Some(ClientFamily::Rustls) => {
            "rustls: build the ClientConfig with TLS 1.3 among its protocol versions"
        }
        None => {
            "remove the client's TLS 1.2 cap (curl --tls-max, Node --tls-max-v1.2, Java jdk.tls.client.protocols, Python ssl_context.maximum_version, Chromium --ssl-version-max)"
        }
    }
}

/// Every ecosystem's line for `ca`, for the dev banner and `certs init`.
pub fn all_lines(ca: &str) -> Vec<(&'static str, String)> {
    Ecosystem::ALL
        .into_iter()
        .map(|e| (e.who(), e.how(ca)))
        .collect()
}

#[cfg(test)]
mod tests;
