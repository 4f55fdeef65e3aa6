//! Keeps secrets out of logs, `Debug` output, errors and status reports:
//! the one redaction every printed URL goes through.

use crate::url::{check_host_port, split};

/// Returns `url` with everything that may be secret replaced by `***`.
///
/// This is the one redaction the crate applies wherever it prints a URL:
/// `Debug` of the configs, tracing spans and events, error messages and
/// [`EndpointStatus::url`](crate::EndpointStatus::url). The promise:
///
/// - user info, with or without a password (`wss://TOKEN@host/`), becomes
///   `***@`;
/// - a query becomes `?***` and a fragment `#***`;
/// - a malformed host or port (a non-numeric or out-of-range port, an
///   empty host, stray characters, unbalanced IPv6 brackets) becomes `***`,
///   since it may be a piece of a password;
/// - when the URL is ambiguous, because an `@` after the host suggests a
///   raw `/`, `?` or `#` in a password ended the host early (an `@` in the
///   fragment, in the query of a URL without a path, or inside the first
///   path segment), everything after `scheme://` is hidden; such a URL is
///   refused by `build()` too;
/// - text without a valid `scheme://` is hidden entirely;
/// - what is kept (scheme, host, port, path) has control characters and
///   whitespace percent-encoded, so a URL cannot forge a log line.
///
/// Secrets in the path itself (`/feed/SECRET`) cannot be told apart from
/// ordinary path segments and are kept: put tokens in headers, user info or
/// the query. Header values are never printed at all.
///
/// ```
/// use actix_tether::redact_url;
/// assert_eq!(redact_url("wss://bob:pw@h/x?token=t"), "wss://***@h/x?***");
/// assert_eq!(redact_url("wss://TOKEN@h/x#frag"), "wss://***@h/x#***");
/// assert_eq!(redact_url("ws://h:notaport/x"), "ws://***/x");
/// assert_eq!(redact_url("ws://u:pa/ss@h/"), "ws://***");
/// assert_eq!(redact_url("ws://[::1]:80/x"), "ws://[::1]:80/x");
/// ```
pub fn redact_url(url: &str) -> String {
    let Some(parts) = split(url) else {
        return "***".to_owned();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(parts.scheme);
    out.push_str("://");
    if parts.is_ambiguous() {
        out.push_str("***");
    } else {
        if parts.userinfo.is_some() {
            out.push_str("***@");
        }
        match check_host_port(parts.host_port) {
            Ok(_) => out.push_str(parts.host_port),
            Err(_) => out.push_str("***"),
        }
        push_escaped(&mut out, parts.path);
    }
    if parts.query.is_some() {
        out.push_str("?***");
    }
    if parts.fragment.is_some() {
        out.push_str("#***");
    }
    out
}

/// Returns `text` with every URL in it passed through [`redact_url`]: for
/// free text such as an error message, which may quote a URL (a custom
/// transport's error, a peer's close reason). A URL is a `scheme://` run up
/// to white space, a quote or an angle bracket.
#[cfg_attr(not(feature = "web"), allow(dead_code))]
pub(crate) fn redact_urls_in(text: &str) -> String {
    let is_scheme = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
    let ends_url = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>');
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = rest[..at]
            .char_indices()
            .rev()
            .find(|(_, c)| !is_scheme(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        let end = rest[at..].find(ends_url).map_or(rest.len(), |i| at + i);
        out.push_str(&rest[..start]);
        out.push_str(&redact_url(&rest[start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Appends `text` with control characters and whitespace percent-encoded.
fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() {
            let mut buf = [0; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, redact_urls_in};

    #[test]
    fn urls_inside_free_text_are_redacted_and_the_rest_kept() {
        let cases = [
            (
                "network: connect to wss://bob:pw@h:1/x?token=t failed",
                "network: connect to wss://***@h:1/x?*** failed",
            ),
            (
                "see \"ws://TOKEN@h/\" and <http://h/?k=v>",
                "see \"ws://***@h/\" and <http://h/?***>",
            ),
            ("two: ws://a:b@x/ ws://c/?d", "two: ws://***@x/ ws://c/?***"),
            ("no scheme ://u:p@h/", "no scheme ***"),
            ("é://u:p@h/", "é***"),
            ("plain text, no url", "plain text, no url"),
            ("", ""),
        ];
        for (text, want) in cases {
            assert_eq!(redact_urls_in(text), want, "{text}");
        }
    }

    #[test]
    fn hides_user_info_queries_fragments_and_bad_authorities() {
        let cases = [
            ("ws://a:b@c/d", "ws://***@c/d"),
            ("wss://TOKEN@host/feed", "wss://***@host/feed"),
            ("wss://TOKEN@host", "wss://***@host"),
            ("ws://u:p%2Fq@h:1/x?t=1#f", "ws://***@h:1/x?***#***"),
            ("ws://u:pa/ss@h/", "ws://***"),
            ("ws://u:12/ss@h/", "ws://***"),
            ("ws://u:12?ss@h/", "ws://***?***"),
            ("ws://u:12#ss@h/", "ws://***#***"),
            ("ws://h/x?mail=a@b", "ws://h/x?***"),
            ("https://m.social/@user/feed", "https://m.social/@user/feed"),
            ("wss://TOKEN#abc@host/feed", "wss://***#***"),
            ("ws://127.0.0.1:notaport/x", "ws://***/x"),
            ("ws://h:0/", "ws://***/"),
            ("ws://h:65536/", "ws://***/"),
            ("ws:///x", "ws://***/x"),
            ("ws://h st/", "ws://***/"),
            ("ws://[::1/x", "ws://***/x"),
            ("ws://[::1]:8080/x", "ws://[::1]:8080/x"),
            ("ws://c/d?x=1#f", "ws://c/d?***#***"),
            ("ws://c/d#f?x=1", "ws://c/d#***"),
            ("http://h:80/a/b", "http://h:80/a/b"),
            ("tcp://127.0.0.1:7000", "tcp://127.0.0.1:7000"),
            ("ws://h/a b\nINFO forged", "ws://h/a%20b%0AINFO%20forged"),
            ("not a url", "***"),
            ("user:pass@host", "***"),
            ("bad scheme://u:p@h/", "***"),
            ("", "***"),
        ];
        for (url, want) in cases {
            assert_eq!(redact_url(url), want, "{url}");
        }
    }

    #[test]
    fn never_keeps_any_part_of_the_user_info() {
        let secret = "S3CRET";
        for url in [
            "wss://S3CRET@h/",
            "wss://u:S3CRET@h/",
            "wss://S3CRET:x@h/",
            "wss://u:S3C/RET@h/",
            "wss://u:S3C?RET@h/",
            "wss://u:S3C#RET@h/",
            "wss://u:1/S3CRET@h/",
            "wss://h/?S3CRET",
            "wss://h/#S3CRET",
            "wss://h:S3CRET/",
            "wss://u:S3C@RET@h/",
        ] {
            let redacted = redact_url(url);
            assert!(!redacted.contains(secret), "{url} -> {redacted}");
            assert!(!redacted.contains("S3C"), "{url} -> {redacted}");
        }
    }
}
