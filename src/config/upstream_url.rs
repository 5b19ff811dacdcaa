//! Upstream and egress-proxy URLs, parsed once at load time into the parts the connector needs.

use super::schema::Upstream;

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub const fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// Why an upstream or egress-proxy URL cannot be used; `url` is the text as written.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?} is not a valid URL ({source})")]
    Syntax {
        url: String,
        source: http::uri::InvalidUri,
    },
    #[error("{url:?}: unsupported scheme {scheme:?}, expected http:// or https://")]
    UnsupportedScheme { url: String, scheme: String },
    #[error("{url:?} has no scheme: write https://{url} (or http:// for a plain-HTTP upstream)")]
    MissingScheme { url: String },
    #[error("{url:?} has no host")]
    MissingHost { url: String },
    #[error("{url:?}: credentials in the URL are not supported; use set_headers (e.g. authorization) instead")]
    Credentials { url: String },
    #[error("{url:?}: port {port:?} is not in 1-65535")]
    Port { url: String, port: String },
    #[error("{url:?}: a query string is not allowed in an upstream URL")]
    Query { url: String },
}

/// A parsed `scheme://host[:port][/path-prefix]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub scheme: Scheme,
    /// Host name or IP literal, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// Prepended to every request path; empty or starting with `/` and without a trailing `/`.
    pub path_prefix: String,
}

impl UpstreamUrl {
    /// Parses an upstream URL; the error's text is a sentence for the user.
    pub fn parse(text: &str) -> Result<UpstreamUrl, UrlError> {
        let text = text.trim();
        let url = || text.to_string();
        let uri: http::Uri = text
            .parse()
            .map_err(|source| UrlError::Syntax { url: url(), source })?;
        let scheme = match uri.scheme_str() {
            Some("https") => Scheme::Https,
            Some("http") => Scheme::Http,
            Some(other) => {
                return Err(UrlError::UnsupportedScheme {
                    url: url(),
                    scheme: other.to_string(),
                })
            }
            None => return Err(UrlError::MissingScheme { url: url() }),
        };
        let authority = uri
            .authority()
            .ok_or_else(|| UrlError::MissingHost { url: url() })?;
        if authority.as_str().contains('@') {
            return Err(UrlError::Credentials { url: url() });
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if host.is_empty() {
            return Err(UrlError::MissingHost { url: url() });
        }
        // Read the port from the text: `Authority::port` hides an out-of-range port.
        let after_host = authority
            .as_str()
            .rsplit_once(']')
            .map(|(_, rest)| rest)
            .unwrap_or(authority.as_str());
        let port = match after_host.rsplit_once(':') {
            Some((_, p)) => {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| UrlError::Port {
                        url: url(),
                        port: p.to_string(),
                    })?
            }
            None => match scheme {
                Scheme::Https => 443,
                Scheme::Http => 80,
            },
        };
        if uri.query().is_some() {
            return Err(UrlError::Query { url: url() });
        }
        let path_prefix = uri.path().trim_end_matches('/').to_string();
        Ok(UpstreamUrl {
            scheme,
            host,
            port,
            path_prefix,
        })
    }

    /// Parses an egress proxy address: a URL, or a bare `host:port` as HTTPS_PROXY often holds
    /// (taken as `http://`, the scheme of a CONNECT proxy).
    pub fn parse_proxy(text: &str) -> Result<UpstreamUrl, UrlError> {
        let t = text.trim();
        if t.contains("://") {
            UpstreamUrl::parse(t)
        } else {
            UpstreamUrl::parse(&format!("http://{t}"))
        }
    }

    /// True for `localhost` and loopback IP literals (never sent through an egress proxy).
    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self
                .host
                .parse::<std::net::IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false)
    }
}

impl std::fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme.as_str(),
            host,
            self.port,
            self.path_prefix
        )
    }
}

impl Upstream {
    /// The parsed URL (validated at load time, so this only fails on unvalidated configs).
    pub fn parsed_url(&self) -> Result<UpstreamUrl, UrlError> {
        UpstreamUrl::parse(&self.url)
    }
}

#[cfg(test)]
mod tests;
