//! Keeps secrets out of logs: URL passwords and query strings.

/// Returns `url` with any password and the whole query string replaced by `***`.
///
/// ```
/// use actix_tether::redact_url;
/// assert_eq!(redact_url("wss://bob:pw@h/x?token=t"), "wss://bob:***@h/x?***");
/// assert_eq!(redact_url("ws://h:80/x"), "ws://h:80/x");
/// ```
pub fn redact_url(url: &str) -> String {
    let (without_query, had_query) = match url.split_once('?') {
        Some((base, _)) => (base, true),
        None => (url, false),
    };
    let mut out = String::with_capacity(url.len());
    match without_query.split_once("://") {
        Some((scheme, rest)) => {
            out.push_str(scheme);
            out.push_str("://");
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or_default();
                    out.push_str(user);
                    if userinfo.contains(':') {
                        out.push_str(":***");
                    }
                    out.push('@');
                    out.push_str(host);
                }
                None => out.push_str(authority),
            }
            out.push_str(path);
        }
        None => out.push_str(without_query),
    }
    if had_query {
        out.push_str("?***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords_and_queries_only() {
        assert_eq!(redact_url("ws://a:b@c/d"), "ws://a:***@c/d");
        assert_eq!(redact_url("ws://token@c"), "ws://token@c");
        assert_eq!(redact_url("ws://c/d?x=1#f"), "ws://c/d?***");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
