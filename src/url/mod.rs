//! Endpoint URLs, taken strictly: the pieces of a URL, the checks `build()`
//! runs on them, and the target actually connected (user info turned into
//! an `Authorization: Basic` header and removed, the fragment dropped).
//!
//! Nothing here echoes its input: a problem says what is wrong, never the
//! text, because a URL may carry a secret.

use std::{fmt, net::Ipv6Addr};

use base64::Engine as _;

/// A URL cut at its delimiters; only the scheme's characters are checked.
///
/// The fragment starts at the first `#`, the query at the first `?` before
/// it, the authority ends at the first `/` (or at the query or fragment),
/// and the user info is everything before the authority's last `@`.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) userinfo: Option<&'a str>,
    /// Host and optional `:port`, as written.
    pub(crate) host_port: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) fragment: Option<&'a str>,
}

impl Parts<'_> {
    /// Whether the cut may be wrong because a raw `/`, `?` or `#` in a user
    /// name or password ended the authority early, so that what looks like
    /// the host may be part of a secret: an `@` in the fragment, in the
    /// query of a URL with no path, or inside (not at the start of) the
    /// first path segment (`wss://user:pa/ss@host/`). An `@` that starts a
    /// segment or sits deeper in the path (`/@user/feed`, `/users/@me`) or
    /// in the query of a URL with a path (`/x?mail=a@b`) is ordinary.
    pub(crate) fn is_ambiguous(&self) -> bool {
        let first_segment = self.path.split('/').nth(1).unwrap_or_default();
        self.fragment.is_some_and(|f| f.contains('@'))
            || (self.path.is_empty() && self.query.is_some_and(|q| q.contains('@')))
            || first_segment.find('@').is_some_and(|at| at > 0)
    }
}

/// Cuts `url` into its parts; `None` without `scheme://` and a valid scheme.
pub(crate) fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    if !is_scheme(scheme) {
        return None;
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    Some(Parts {
        scheme,
        userinfo,
        host_port,
        path,
        query,
        fragment,
    })
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// What is wrong with a URL, without repeating any of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlProblem {
    /// No `scheme://`, or a scheme with characters a scheme cannot have.
    NotAbsolute,
    /// A scheme the transport does not speak; the ones it does.
    Scheme(&'static [&'static str]),
    /// Nothing where the host should be.
    EmptyHost,
    /// Characters a host name cannot have.
    Host,
    /// An IPv6 address with unbalanced brackets or bad digits.
    Ipv6,
    /// A port that is empty or not a number.
    PortNotNumber,
    /// A port of 0 or above 65535.
    PortRange,
    /// An `@` where a raw `/`, `?` or `#` in a password may have cut the
    /// authority short (see `Parts::is_ambiguous`).
    Ambiguous,
    /// User info with a character that must be percent-encoded, a bad
    /// `%` escape, nothing before the `@`, a `:` in the user name once
    /// decoded (RFC 7617), or a decoded control character.
    UserInfo,
    /// A character in the path or query that must be percent-encoded.
    Invalid,
}

impl fmt::Display for UrlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAbsolute => f.write_str("not an absolute url (scheme://host/path)"),
            Self::Scheme(schemes) => {
                f.write_str("the scheme must be ")?;
                for (i, scheme) in schemes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" or ")?;
                    }
                    write!(f, "{scheme}://")?;
                }
                Ok(())
            }
            Self::EmptyHost => f.write_str("the host is empty"),
            Self::Host => f.write_str(
                "the host has characters a host name cannot have \
                 (letters, digits, '-', '.', '_'; IPv6 in brackets)",
            ),
            Self::Ipv6 => f.write_str("the IPv6 address is malformed (digits or brackets)"),
            Self::PortNotNumber => f.write_str("the port is not a number"),
            Self::PortRange => f.write_str("the port is out of range (1 to 65535)"),
            Self::Ambiguous => f.write_str(
                "an '@' after the host makes it ambiguous: percent-encode '/', '?', \
                 '#' and '@' in a user name or password (%2F, %3F, %23, %40)",
            ),
            Self::UserInfo => f.write_str(
                "the user name or password is empty, has a bad % escape, a character \
                 that must be percent-encoded, a ':' in the user name or a control character",
            ),
            Self::Invalid => {
                f.write_str("the path or query has a character that must be percent-encoded")
            }
        }
    }
}

/// Checks a host and optional `:port`; returns the port, if written.
///
/// # Errors
/// An empty or malformed host, unbalanced IPv6 brackets, a port that is
/// not a number or out of range.
pub(crate) fn check_host_port(host_port: &str) -> Result<Option<u16>, UrlProblem> {
    check_authority(host_port, false)
}

/// As [`check_host_port`]; `allow_empty` accepts an empty host (custom
/// schemes such as `unix:///path`).
fn check_authority(host_port: &str, allow_empty: bool) -> Result<Option<u16>, UrlProblem> {
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']').ok_or(UrlProblem::Ipv6)?;
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(UrlProblem::Ipv6);
        }
        let port = match after {
            "" => None,
            after => Some(after.strip_prefix(':').ok_or(UrlProblem::Host)?),
        };
        (address, port)
    } else {
        if host_port.contains(']') {
            return Err(UrlProblem::Ipv6);
        }
        let (host, port) = match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        };
        if !host.is_empty()
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return Err(UrlProblem::Host);
        }
        (host, port)
    };
    if host.is_empty() && !(allow_empty && port.is_none()) {
        return Err(UrlProblem::EmptyHost);
    }
    // An empty port (`host:`) is no port (RFC 3986 3.2.3).
    port.filter(|p| !p.is_empty()).map(parse_port).transpose()
}

fn parse_port(port: &str) -> Result<u16, UrlProblem> {
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlProblem::PortNotNumber);
    }
    let digits = port.trim_start_matches('0');
    if digits.len() > 5 {
        return Err(UrlProblem::PortRange);
    }
    match digits.parse::<u32>().unwrap_or(0) {
        port @ 1..=65535 => u16::try_from(port).map_err(|_| UrlProblem::PortRange),
        _ => Err(UrlProblem::PortRange),
    }
}

/// What a connection actually uses of a checked URL.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// The URL without user info and fragment, scheme in lowercase.
    pub(crate) url: String,
    /// `Basic …` built from the URL's user info, if it had one.
    pub(crate) authorization: Option<String>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &crate::redact::redact_url(&self.url))
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Checks `url` strictly and returns what to connect.
///
/// `schemes` lists the schemes the transport speaks; empty means any.
///
/// # Errors
/// The first problem found; see [`UrlProblem`].
pub(crate) fn check(url: &str, schemes: &'static [&'static str]) -> Result<Target, UrlProblem> {
    let parts = split(url).ok_or(UrlProblem::NotAbsolute)?;
    if !schemes.is_empty() && !schemes.iter().any(|s| parts.scheme.eq_ignore_ascii_case(s)) {
        return Err(UrlProblem::Scheme(schemes));
    }
    if parts.is_ambiguous() {
        return Err(UrlProblem::Ambiguous);
    }
    check_authority(parts.host_port, schemes.is_empty())?;
    let authorization = parts.userinfo.map(basic_authorization).transpose()?;
    // An empty port is no port: connect without the stray ':'.
    let host_port = parts.host_port.strip_suffix(':').unwrap_or(parts.host_port);
    let mut target = format!(
        "{}://{}{}",
        parts.scheme.to_ascii_lowercase(),
        host_port,
        parts.path
    );
    if let Some(query) = parts.query {
        target.push('?');
        target.push_str(query);
    }
    // (A custom scheme without a host, `unix:///path`, is not an HTTP URI.)
    let hostless = host_port.is_empty();
    if !hostless && target.parse::<awc::http::Uri>().is_err() {
        return Err(UrlProblem::Invalid);
    }
    Ok(Target {
        url: target,
        authorization,
    })
}

/// `Basic base64(user ":" password)` from URL user info, both halves
/// percent-decoded (a missing password is empty, as common clients do).
fn basic_authorization(userinfo: &str) -> Result<String, UrlProblem> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:%".contains(&b);
    if userinfo.is_empty() || !userinfo.bytes().all(allowed) {
        return Err(UrlProblem::UserInfo);
    }
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let mut credentials = percent_decode(user)?;
    // RFC 7617: the user-id ends at the first ':'.
    if credentials.contains(&b':') {
        return Err(UrlProblem::UserInfo);
    }
    credentials.push(b':');
    credentials.extend(percent_decode(password)?);
    if credentials.iter().any(|b| b.is_ascii_control()) {
        return Err(UrlProblem::UserInfo);
    }
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    ))
}

fn percent_decode(text: &str) -> Result<Vec<u8>, UrlProblem> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(UrlProblem::UserInfo)?;
            let hex = std::str::from_utf8(hex).map_err(|_| UrlProblem::UserInfo)?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(UrlProblem::UserInfo);
            }
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlProblem::UserInfo)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// `scheme://host:port` of an absolute URL (the port made explicit), for
/// telling whether a redirect leaves the origin; `None` if it does not parse.
pub(crate) fn origin(url: &str) -> Option<(String, String, u16)> {
    let uri: awc::http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let port = match (uri.port_u16(), scheme.as_str()) {
        (Some(port), _) => port,
        (None, "http" | "ws") => 80,
        (None, "https" | "wss") => 443,
        (None, _) => return None,
    };
    Some((scheme, uri.host()?.to_ascii_lowercase(), port))
}

#[cfg(test)]
mod tests;
