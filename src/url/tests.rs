//! URL checks: what is accepted, what is refused, and that nothing echoes.

use super::*;

const WS: &[&str] = &["ws", "wss"];
const HTTP: &[&str] = &["http", "https"];

fn basic(credentials: &str) -> Option<String> {
    Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    ))
}

#[test]
fn good_urls_give_their_target() {
    let cases: &[(&str, &[&str], &str, Option<String>)] = &[
        ("ws://h/", WS, "ws://h/", None),
        ("wss://h:1/x?t=1", WS, "wss://h:1/x?t=1", None),
        ("ws://[::1]:8080/x", WS, "ws://[::1]:8080/x", None),
        ("ws://[::1]/x", WS, "ws://[::1]/x", None),
        ("WSS://H/x#frag", WS, "wss://H/x", None),
        (
            "http://127.0.0.1:080/e",
            HTTP,
            "http://127.0.0.1:080/e",
            None,
        ),
        ("tcp://127.0.0.1:7000", &[], "tcp://127.0.0.1:7000", None),
        ("wss://TOKEN@host/x", WS, "wss://host/x", basic("TOKEN:")),
        (
            "ws://u:p%2Fq@h:1/x?t=1#f",
            WS,
            "ws://h:1/x?t=1",
            basic("u:p/q"),
        ),
        ("ws://:pw@h/", WS, "ws://h/", basic(":pw")),
        ("ws://a%40b:c:d@h/", WS, "ws://h/", basic("a@b:c:d")),
        ("ws://h/p?mail=a@b", WS, "ws://h/p?mail=a@b", None),
        (
            "https://m.social/@user/feed",
            HTTP,
            "https://m.social/@user/feed",
            None,
        ),
        ("wss://h/users/@me", WS, "wss://h/users/@me", None),
        ("ws://h:/x", WS, "ws://h/x", None),
        ("unix:///tmp/sock", &[], "unix:///tmp/sock", None),
    ];
    for (url, schemes, want_url, want_auth) in cases {
        let target = check(url, schemes).unwrap_or_else(|p| panic!("{url}: {p}"));
        assert_eq!(target.url, *want_url, "{url}");
        assert_eq!(target.authorization, *want_auth, "{url}");
    }
}

#[test]
fn bad_urls_are_refused_with_the_problem() {
    use UrlProblem::*;
    let cases: &[(&str, &[&str], UrlProblem)] = &[
        ("ws://127.0.0.1:notaport/x", WS, PortNotNumber),
        ("ws://h:0/", WS, PortRange),
        ("ws://h:65536/", WS, PortRange),
        ("ws://h:99999999999/", WS, PortRange),
        ("http://h/", WS, Scheme(WS)),
        ("ws://h/", HTTP, Scheme(HTTP)),
        ("ws://u:pa/ss@h/", WS, Ambiguous),
        ("ws://u:12/ss@h/", WS, Ambiguous),
        ("wss://TOKEN#abc@host/feed", WS, Ambiguous),
        ("wss://user:1234?x@host/feed", WS, Ambiguous),
        ("ws://h/x#a@b", WS, Ambiguous),
        ("ws://a%3Ab:c@h/", WS, UserInfo),
        ("ws://u:p%0Aq@h/", WS, UserInfo),
        ("ws:///x", WS, EmptyHost),
        ("ws://:80/x", WS, EmptyHost),
        ("ws://u@/x", WS, EmptyHost),
        ("ws://h st/", WS, Host),
        ("ws://h\\x/", WS, Host),
        ("ws://::1/", WS, EmptyHost),
        ("ws://[::1/", WS, Ipv6),
        ("ws://::1]/", WS, Ipv6),
        ("ws://[zz]/", WS, Ipv6),
        ("ws://[::1]x/", WS, Host),
        ("ws://[::1]:0/", WS, PortRange),
        ("ws://@h/", WS, UserInfo),
        ("ws://u:p%zz@h/", WS, UserInfo),
        ("ws://u:p%2@h/", WS, UserInfo),
        ("ws://u:p s@h/", WS, UserInfo),
        ("ws://h/a b", WS, Invalid),
        ("nope", HTTP, NotAbsolute),
        ("1ws://h/", &[], NotAbsolute),
        ("://h/", &[], NotAbsolute),
    ];
    for (url, schemes, want) in cases {
        assert_eq!(check(url, schemes).unwrap_err(), *want, "{url}");
    }
}

#[test]
fn problems_never_repeat_the_url() {
    let secret = "s3cr3t";
    for url in [
        "ws://u:s3cr3t@h:notaport/",
        "ws://u:s3cr3t/x@h/",
        "http://s3cr3t@h/",
        "ws://u:s3cr3t%zz@h/",
    ] {
        let problem = check(url, WS).unwrap_err().to_string();
        assert!(!problem.contains(secret), "{problem}");
    }
}

#[test]
fn origins_make_default_ports_explicit() {
    assert_eq!(origin("http://H/x"), Some(("http".into(), "h".into(), 80)));
    assert_eq!(origin("https://h:443/"), origin("https://h/"));
    assert_ne!(origin("http://h/"), origin("https://h/"));
    assert_ne!(origin("http://h:8080/"), origin("http://h:8081/"));
    assert_eq!(origin("not a url"), None);
}
