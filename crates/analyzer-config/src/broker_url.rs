//! Broker URLs as written in `config.json` (`mqtt://`, `mqtts://`, `ws://`, `wss://`).
//!
//! CoreScope hands the URL to paho after mapping `mqtt://` → `tcp://` and `mqtts://` → `ssl://`,
//! so configs written for it may also use paho's own `tcp://`, `ssl://` and `tls://` spellings;
//! they are accepted as aliases. Anything else is rejected at startup with the key path, instead
//! of failing later inside the client library.

use std::fmt;

/// How to reach the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerScheme {
    /// Plain MQTT over TCP (`mqtt://`, `tcp://`), default port 1883.
    Tcp,
    /// MQTT over TLS (`mqtts://`, `ssl://`, `tls://`), default port 8883.
    Tls,
    /// MQTT over a plain WebSocket (`ws://`), default port 80.
    Ws,
    /// MQTT over a WebSocket inside TLS (`wss://`), default port 443.
    Wss,
}

impl BrokerScheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Self::Tcp => 1883,
            Self::Tls => 8883,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }

    /// True for the schemes that run inside TLS.
    pub fn is_tls(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// True for the WebSocket schemes.
    pub fn is_websocket(self) -> bool {
        matches!(self, Self::Ws | Self::Wss)
    }

    /// The canonical scheme prefix (`mqtt`, `mqtts`, `ws`, `wss`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "mqtt",
            Self::Tls => "mqtts",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }
}

/// A parsed, validated broker URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Transport.
    pub scheme: BrokerScheme,
    /// Host name or IP address (IPv6 without the brackets).
    pub host: String,
    /// TCP port (explicit or the scheme default).
    pub port: u16,
    /// Path for WebSocket URLs (e.g. `/mqtt`), `/` when absent; empty for TCP/TLS.
    pub path: String,
    /// User name embedded in the URL (`mqtt://user:pass@host`), if any.
    pub username: Option<String>,
    /// Password embedded in the URL, if any.
    pub password: Option<String>,
}

/// Why a broker URL was rejected. The `Display` text is the problem only; the caller adds
/// the key path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerUrlError {
    /// The string is empty or only whitespace.
    #[error("empty broker URL")]
    Empty,
    /// No `scheme://` prefix.
    #[error("missing scheme in {0:?} (use mqtt://, mqtts://, ws:// or wss://)")]
    MissingScheme(String),
    /// A scheme this analyzer cannot speak.
    #[error("unsupported scheme {0:?} (use mqtt://, mqtts://, ws:// or wss://)")]
    UnsupportedScheme(String),
    /// Nothing between `://` and the port or path.
    #[error("missing host")]
    MissingHost,
    /// The port is not a number in 1..=65535.
    #[error("invalid port {0:?}")]
    InvalidPort(String),
    /// A path on a TCP/TLS URL, where it has no meaning.
    #[error("a path ({0:?}) is only meaningful for ws:// and wss:// URLs")]
    UnexpectedPath(String),
}

impl BrokerUrl {
    /// Parses `scheme://[user[:pass]@]host[:port][/path]`.
    pub fn parse(input: &str) -> Result<Self, BrokerUrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(BrokerUrlError::Empty);
        }
        let (scheme_text, rest) = input
            .split_once("://")
            .ok_or_else(|| BrokerUrlError::MissingScheme(input.to_owned()))?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => BrokerScheme::Tcp,
            "mqtts" | "ssl" | "tls" => BrokerScheme::Tls,
            "ws" => BrokerScheme::Ws,
            "wss" => BrokerScheme::Wss,
            _ => return Err(BrokerUrlError::UnsupportedScheme(scheme_text.to_owned())),
        };
        // Drop a query string or fragment: rumqttc-style `?client_id=` options are not ours.
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(info) => match info.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(info.to_owned()), None),
            },
            None => (None, None),
        };
        let (host, port_text) = if let Some(stripped) = hostport.strip_prefix('[') {
            let end = stripped.find(']').ok_or(BrokerUrlError::MissingHost)?;
            let after = &stripped[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(BrokerUrlError::InvalidPort(after.to_owned())),
            };
            (&stripped[..end], port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(BrokerUrlError::MissingHost);
        }
        let port = match port_text {
            None => scheme.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n != 0 => n,
                _ => return Err(BrokerUrlError::InvalidPort(p.to_owned())),
            },
        };
        let path = if scheme.is_websocket() {
            if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            }
        } else if path.is_empty() || path == "/" {
            String::new()
        } else {
            return Err(BrokerUrlError::UnexpectedPath(path.to_owned()));
        };
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port,
            path,
            username,
            password,
        })
    }

    /// The URL for a WebSocket connection (`ws://host:port/path`), as rumqttc wants it.
    pub fn websocket_url(&self) -> String {
        format!(
            "{}://{}:{}{}",
            self.scheme.as_str(),
            self.host_for_url(),
            self.port,
            self.path
        )
    }

    /// The URL with any password replaced by `****`, for logs and the status API.
    pub fn masked(&self) -> String {
        let mut out = format!("{}://", self.scheme.as_str());
        if let Some(user) = &self.username {
            out.push_str(user);
            if self.password.is_some() {
                out.push_str(":****");
            }
            out.push('@');
        }
        out.push_str(&self.host_for_url());
        out.push(':');
        out.push_str(&self.port.to_string());
        out.push_str(&self.path);
        out
    }

    fn host_for_url(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print an embedded password.
        f.write_str(&self.masked())
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks the password of a raw broker URL string (`mqtt://u:secret@h` → `mqtt://u:****@h`)
/// without requiring it to be valid.
pub fn mask_password(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return raw.to_owned();
    };
    let userinfo = &authority[..at];
    let Some((user, _)) = userinfo.split_once(':') else {
        return raw.to_owned();
    };
    format!("{scheme}://{user}:****{}", &rest[at..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_scheme_with_default_ports() {
        let cases = [
            ("mqtt://localhost", BrokerScheme::Tcp, 1883),
            ("tcp://localhost", BrokerScheme::Tcp, 1883),
            ("mqtts://broker.example", BrokerScheme::Tls, 8883),
            ("ssl://broker.example", BrokerScheme::Tls, 8883),
            ("ws://broker.example", BrokerScheme::Ws, 80),
            ("wss://broker.example", BrokerScheme::Wss, 443),
        ];
        for (url, scheme, port) in cases {
            let parsed = BrokerUrl::parse(url).unwrap();
            assert_eq!(parsed.scheme, scheme, "{url}");
            assert_eq!(parsed.port, port, "{url}");
        }
    }

    #[test]
    fn parses_credentials_port_and_path() {
        let u = BrokerUrl::parse("wss://user:p@ss@mqtt.example.com:8084/mqtt").unwrap();
        assert_eq!(u.host, "mqtt.example.com");
        assert_eq!(u.port, 8084);
        assert_eq!(u.path, "/mqtt");
        assert_eq!(u.username.as_deref(), Some("user"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.websocket_url(), "wss://mqtt.example.com:8084/mqtt");
        assert_eq!(u.masked(), "wss://user:****@mqtt.example.com:8084/mqtt");
        assert!(!format!("{u:?}").contains("p@ss"));
    }

    #[test]
    fn parses_ipv6_hosts() {
        let u = BrokerUrl::parse("mqtt://[::1]:1884").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.port, 1884);
        assert_eq!(u.masked(), "mqtt://[::1]:1884");
    }

    #[test]
    fn rejects_bad_urls_with_a_reason() {
        assert_eq!(
            BrokerUrl::parse("http://x").unwrap_err().to_string(),
            "unsupported scheme \"http\" (use mqtt://, mqtts://, ws:// or wss://)"
        );
        assert_eq!(BrokerUrl::parse("  ").unwrap_err(), BrokerUrlError::Empty);
        assert!(matches!(
            BrokerUrl::parse("localhost:1883"),
            Err(BrokerUrlError::MissingScheme(_))
        ));
        assert_eq!(
            BrokerUrl::parse("mqtt://:1883").unwrap_err(),
            BrokerUrlError::MissingHost
        );
        assert!(matches!(
            BrokerUrl::parse("mqtt://h:99999"),
            Err(BrokerUrlError::InvalidPort(_))
        ));
        assert!(matches!(
            BrokerUrl::parse("mqtt://h:0"),
            Err(BrokerUrlError::InvalidPort(_))
        ));
        assert!(matches!(
            BrokerUrl::parse("mqtt://h/x"),
            Err(BrokerUrlError::UnexpectedPath(_))
        ));
    }

    #[test]
    fn masks_raw_strings() {
        assert_eq!(
            mask_password("mqtt://u:secret@h:1883"),
            "mqtt://u:****@h:1883"
        );
        assert_eq!(mask_password("mqtt://h:1883"), "mqtt://h:1883");
        assert_eq!(mask_password("garbage"), "garbage");
    }
}
