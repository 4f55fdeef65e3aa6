//! Redirects: where a `Location` points (RFC 3986 §5.2 reference
//! resolution against the URL that answered, RFC 9110 §10.2.2), and which
//! redirects later attempts remember (RFC 9110 §15.4: only the permanent
//! ones, 301 and 308).

/// Resolves a `Location` header against the URL that answered with it; `None`
/// when it is empty, or points at a scheme other than `http` and `https`
/// (a fragment alone points at the same URL: the redirect limit ends a
/// loop).
/// The location's fragment is dropped (it never goes in a request), and so
/// is its user info: credentials a server puts in a redirect are never
/// sent, in `Host` or anywhere else.
pub(super) fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.is_empty() {
        return None;
    }
    let location = location.split_once('#').map_or(location, |(kept, _)| kept);
    let base = crate::url::split(base)?;
    let scheme = base.scheme.to_ascii_lowercase();
    let absolute = location
        .split_once(':')
        .filter(|(scheme, _)| is_scheme(scheme));
    if let Some((scheme, _)) = absolute {
        // `http:/x` and `http:x` (no authority) are refused with the rest.
        if !["http", "https"]
            .iter()
            .any(|s| scheme.eq_ignore_ascii_case(s))
        {
            return None;
        }
        let parts = crate::url::split(location)?;
        return Some(join(
            &parts.scheme.to_ascii_lowercase(),
            parts.host_port,
            &remove_dot_segments(parts.path),
            parts.query,
        ));
    }
    if location.starts_with("//") {
        let with_scheme = format!("{scheme}:{location}");
        let parts = crate::url::split(&with_scheme)?;
        let path = remove_dot_segments(parts.path);
        return Some(join(&scheme, parts.host_port, &path, parts.query));
    }
    let (path, query) = match location.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (location, None),
    };
    let (path, query) = if path.is_empty() {
        // Only a query (§5.2.2): the base's path, and its query if none.
        (base.path.to_owned(), query.or(base.query))
    } else if path.starts_with('/') {
        (remove_dot_segments(path), query)
    } else {
        // Merge (§5.2.3): the base path up to its last `/`.
        let dir = base.path.rsplit_once('/').map_or("", |(dir, _)| dir);
        (remove_dot_segments(&format!("{dir}/{path}")), query)
    };
    Some(join(&scheme, base.host_port, &path, query))
}

/// `scheme://host_port` + path (at least `/`) + `?query`.
fn join(scheme: &str, host_port: &str, path: &str, query: Option<&str>) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut url = format!("{scheme}://{host_port}{path}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// RFC 3986: a letter, then letters, digits, `+`, `-` or `.`.
fn is_scheme(scheme: &str) -> bool {
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// RFC 3986 §5.2.4: `.` and `..` segments removed from `path`.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path.to_owned();
    let mut output = String::with_capacity(path.len());
    // Every round shortens the input.
    while !input.is_empty() {
        if input.starts_with("../") {
            input.drain(..3);
        } else if input.starts_with("./") || input.starts_with("/./") {
            input.drain(..2);
        } else if input == "/." {
            input.truncate(1);
        } else if input.starts_with("/../") {
            input.drain(..3);
            drop_last_segment(&mut output);
        } else if input == "/.." {
            input.truncate(1);
            drop_last_segment(&mut output);
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let from = usize::from(input.starts_with('/'));
            let end = input[from..].find('/').map_or(input.len(), |at| at + from);
            output.push_str(&input[..end]);
            input.drain(..end);
        }
    }
    output
}

/// Removes the output's last segment and the `/` before it.
fn drop_last_segment(output: &mut String) {
    let cut = output.rfind('/').unwrap_or(0);
    output.truncate(cut);
}

/// The redirects of one attempt, as later attempts should see them: the
/// URL and whether the request became a plain GET, moved only by a chain
/// of permanent redirects from the start (a temporary one, 302, 303 or
/// 307, applies to this request only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Remembered {
    /// Where later attempts start.
    pub(super) url: String,
    /// Whether later attempts send a plain GET.
    pub(super) as_get: bool,
    /// No temporary redirect yet in this attempt.
    permanent_so_far: bool,
}

impl Remembered {
    /// Before any redirect: where this attempt started.
    pub(super) fn new(url: String, as_get: bool) -> Self {
        Self {
            url,
            as_get,
            permanent_so_far: true,
        }
    }

    /// A redirect with `status` to `to`, after which the request is a plain
    /// GET or not.
    pub(super) fn redirected(&mut self, status: u16, to: &str, as_get: bool) {
        self.permanent_so_far &= matches!(status, 301 | 308);
        if self.permanent_so_far {
            self.url = to.to_owned();
            self.as_get = as_get;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_as_rfc_3986_section_5_4_says() {
        // RFC 3986 §5.4's base, with http in place of its path parameters.
        let base = "http://a/b/c/d?q";
        let cases = [
            ("g", "http://a/b/c/g"),
            ("./g", "http://a/b/c/g"),
            ("g/", "http://a/b/c/g/"),
            ("/g", "http://a/g"),
            ("//g", "http://g/"),
            ("?y", "http://a/b/c/d?y"),
            ("g?y", "http://a/b/c/g?y"),
            ("#s", "http://a/b/c/d?q"),
            ("g#s", "http://a/b/c/g"),
            ("..", "http://a/b/"),
            ("../", "http://a/b/"),
            ("../g", "http://a/b/g"),
            ("../..", "http://a/"),
            ("../../g", "http://a/g"),
            ("../../../g", "http://a/g"),
            ("/./g", "http://a/g"),
            ("/../g", "http://a/g"),
            ("g.", "http://a/b/c/g."),
            (".g", "http://a/b/c/.g"),
            ("g..", "http://a/b/c/g.."),
            ("./../g", "http://a/b/g"),
            ("./g/.", "http://a/b/c/g/"),
            ("g/./h", "http://a/b/c/g/h"),
            ("g/../h", "http://a/b/c/h"),
            ("g;x=1/../y", "http://a/b/c/y"),
            ("g?y/./x", "http://a/b/c/g?y/./x"),
            ("HTTP://A/b/../c", "http://A/c"),
            ("https://other:8443/e?x=1#f", "https://other:8443/e?x=1"),
        ];
        for (location, want) in cases {
            assert_eq!(
                resolve_location(base, location).as_deref(),
                Some(want),
                "{location}"
            );
        }
    }

    #[test]
    fn other_schemes_empty_locations_and_user_info_are_not_followed() {
        let base = "https://h:8443/a/events";
        for refused in ["ftp://x/y", "mailto:a@b", "javascript:alert(1)", "", "  "] {
            assert_eq!(resolve_location(base, refused), None, "{refused:?}");
        }
        assert_eq!(
            resolve_location(base, "//u:p@cdn:1/e").as_deref(),
            Some("https://cdn:1/e")
        );
        assert_eq!(
            resolve_location(base, "http://token@other/").as_deref(),
            Some("http://other/")
        );
    }

    #[test]
    fn only_a_chain_of_permanent_redirects_is_remembered() {
        let mut chain = Remembered::new("http://h/start".into(), false);
        chain.redirected(308, "http://h/moved", false);
        chain.redirected(301, "http://h/get", true);
        assert_eq!((chain.url.as_str(), chain.as_get), ("http://h/get", true));
        // A temporary redirect ends what is remembered, even when a
        // permanent one follows it.
        chain.redirected(307, "http://h/today", true);
        chain.redirected(308, "http://h/later", true);
        assert_eq!(chain.url, "http://h/get");
        let mut seen = Remembered::new("http://h/run".into(), false);
        seen.redirected(303, "http://h/stream", true);
        assert_eq!((seen.url.as_str(), seen.as_get), ("http://h/run", false));
    }
}
