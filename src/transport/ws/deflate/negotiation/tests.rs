//! permessage-deflate offers and answers, as RFC 7692 says.

use super::*;

fn offer() -> DeflateConfig {
    DeflateConfig::default()
}

fn run(offered: &DeflateConfig, response: &str) -> Result<Option<Agreed>, Fault> {
    check(Some(offered), [response.as_bytes()])
}

fn agreed(cnt: bool, snt: bool, client_bits: u8, server_bits: u8) -> Option<Agreed> {
    Some(Agreed {
        client_no_context_takeover: cnt,
        server_no_context_takeover: snt,
        client_window_bits: client_bits,
        server_window_bits: server_bits,
    })
}

fn param(name: &str, value: Option<&str>) -> Param {
    Param {
        name: name.into(),
        value: value.map(Into::into),
    }
}

#[test]
fn offers_follow_the_config() {
    assert_eq!(
        offer().offer(),
        "permessage-deflate; client_max_window_bits"
    );
    let all = DeflateConfig {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        client_max_window_bits: Some(12),
        server_max_window_bits: Some(10),
    };
    assert_eq!(
        all.offer(),
        "permessage-deflate; client_no_context_takeover; server_no_context_takeover; \
         client_max_window_bits=12; server_max_window_bits=10"
    );
    // Our own offer parses back as one well-formed element.
    let parsed = parse(all.offer().as_bytes()).unwrap();
    assert_eq!(parsed.len(), 1);
    assert_eq!(parsed[0].params.len(), 4);
}

#[test]
fn config_refuses_windows_zlib_or_the_rfc_cannot_honour() {
    for (client, server, ok) in [
        (Some(9), Some(8), true),
        (Some(15), Some(15), true),
        (None, None, true),
        (Some(8), None, false),
        (Some(16), None, false),
        (None, Some(7), false),
        (None, Some(16), false),
    ] {
        let config = DeflateConfig {
            client_max_window_bits: client,
            server_max_window_bits: server,
            ..DeflateConfig::default()
        };
        assert_eq!(config.validate().is_ok(), ok, "{client:?} {server:?}");
    }
}

#[test]
fn good_responses_give_the_agreed_parameters() {
    let bits = |client, server| DeflateConfig {
        client_max_window_bits: client,
        server_max_window_bits: server,
        ..DeflateConfig::default()
    };
    let both = DeflateConfig {
        client_no_context_takeover: true,
        server_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let cases: &[(DeflateConfig, &str, Option<Agreed>)] = &[
        (offer(), "permessage-deflate", agreed(false, false, 15, 15)),
        (offer(), "", None),
        (offer(), " , ,", None),
        (
            offer(),
            "permessage-deflate; client_max_window_bits=10",
            agreed(false, false, 10, 15),
        ),
        // A server may pick 8 for us: we then send uncompressed.
        (
            offer(),
            "permessage-deflate; client_max_window_bits=8",
            agreed(false, false, 8, 15),
        ),
        // Unasked, a server may add either no_context_takeover and
        // its own window size.
        (
            offer(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            agreed(true, true, 15, 15),
        ),
        (
            offer(),
            "permessage-deflate; server_max_window_bits=8",
            agreed(false, false, 15, 8),
        ),
        // Our own promise holds when the server says nothing.
        (
            bits(Some(11), None),
            "permessage-deflate",
            agreed(false, false, 11, 15),
        ),
        (
            bits(Some(11), None),
            "permessage-deflate; client_max_window_bits=9",
            agreed(false, false, 9, 15),
        ),
        (
            bits(None, Some(10)),
            "permessage-deflate; server_max_window_bits=10",
            agreed(false, false, 15, 10),
        ),
        (
            bits(None, Some(10)),
            "permessage-deflate; server_max_window_bits=9",
            agreed(false, false, 15, 9),
        ),
        // client_no_context_takeover is ours to keep; the server need
        // not echo it.
        (
            both,
            "permessage-deflate; server_no_context_takeover",
            agreed(true, true, 15, 15),
        ),
    ];
    for (offered, response, expected) in cases {
        assert_eq!(run(offered, response), Ok(*expected), "{response:?}");
    }
}

#[test]
fn case_whitespace_and_quoting_do_not_matter() {
    let offered = DeflateConfig {
        server_max_window_bits: Some(12),
        ..DeflateConfig::default()
    };
    let expected = agreed(false, true, 10, 12);
    for response in [
        "permessage-deflate;server_no_context_takeover;client_max_window_bits=10;server_max_window_bits=12",
        "PerMessage-Deflate; Server_No_Context_Takeover; CLIENT_MAX_WINDOW_BITS=10; server_max_window_bits=12",
        "  permessage-deflate \t;\tserver_no_context_takeover ; client_max_window_bits = 10 ; server_max_window_bits= 12  ",
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=\"10\"; server_max_window_bits=\"1\\2\"",
        ", permessage-deflate; server_no_context_takeover; client_max_window_bits=10; server_max_window_bits=12 ,",
    ] {
        assert_eq!(run(&offered, response), Ok(expected), "{response:?}");
    }
}

#[test]
fn every_invalid_response_is_a_fault() {
    let offered = DeflateConfig {
        client_max_window_bits: Some(12),
        ..DeflateConfig::default()
    };
    let asked_server = DeflateConfig {
        server_no_context_takeover: true,
        server_max_window_bits: Some(10),
        ..DeflateConfig::default()
    };
    let syntax = |what| Err(Fault::Syntax(what));
    let bad = |name, value| Err(Fault::BadValue(param(name, value)));
    type Case<'a> = (&'a DeflateConfig, &'a str, Result<Option<Agreed>, Fault>);
    let cases: &[Case<'_>] = &[
        // Grammar.
        (
            &offered,
            "permessage-deflate;",
            syntax("expected a parameter name"),
        ),
        (
            &offered,
            "permessage-deflate; =1",
            syntax("expected a parameter name"),
        ),
        (
            &offered,
            "permessage-deflate x",
            syntax("expected `;` or `,`"),
        ),
        (
            &offered,
            ";permessage-deflate",
            syntax("expected an extension name"),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits=",
            syntax("expected a parameter value"),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits=\"10",
            syntax("unterminated quoted string"),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            syntax("quoted value is not a token"),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits=\"\"",
            syntax("quoted value is not a token"),
        ),
        (
            &offered,
            "permessage-deflate\u{e9}",
            syntax("expected `;` or `,`"),
        ),
        // Extensions we did not offer, or twice.
        (
            &offered,
            "x-webkit-deflate-frame",
            Err(Fault::NotOffered("x-webkit-deflate-frame".into())),
        ),
        (
            &offered,
            "permessage-deflate, x-foo",
            Err(Fault::NotOffered("x-foo".into())),
        ),
        (
            &offered,
            "permessage-deflate, permessage-deflate",
            Err(Fault::AcceptedTwice),
        ),
        // Parameters.
        (
            &offered,
            "permessage-deflate; mux",
            Err(Fault::UnknownParam("mux".into())),
        ),
        (
            &offered,
            "permessage-deflate; server_no_context_takeover; Server_No_Context_Takeover",
            Err(Fault::DuplicateParam("server_no_context_takeover".into())),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
            Err(Fault::DuplicateParam("client_max_window_bits".into())),
        ),
        (
            &offered,
            "permessage-deflate; server_no_context_takeover=1",
            bad("server_no_context_takeover", Some("1")),
        ),
        (
            &offered,
            "permessage-deflate; client_no_context_takeover=\"x\"",
            bad("client_no_context_takeover", Some("x")),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits",
            bad("client_max_window_bits", None),
        ),
        (
            &offered,
            "permessage-deflate; server_max_window_bits",
            bad("server_max_window_bits", None),
        ),
        // Above our promise of 12.
        (
            &offered,
            "permessage-deflate; client_max_window_bits=13",
            bad("client_max_window_bits", Some("13")),
        ),
        (
            &offered,
            "permessage-deflate; client_max_window_bits=7",
            bad("client_max_window_bits", Some("7")),
        ),
        (
            &offered,
            "permessage-deflate; server_max_window_bits=16",
            bad("server_max_window_bits", Some("16")),
        ),
        (
            &offered,
            "permessage-deflate; server_max_window_bits=010",
            bad("server_max_window_bits", Some("010")),
        ),
        (
            &offered,
            "permessage-deflate; server_max_window_bits=+9",
            bad("server_max_window_bits", Some("+9")),
        ),
        (
            &offered,
            "permessage-deflate; server_max_window_bits=256",
            bad("server_max_window_bits", Some("256")),
        ),
        (
            &offered,
            "permessage-deflate; server_max_window_bits=99999999999999999999",
            bad("server_max_window_bits", Some("99999999999999999999")),
        ),
        // Above what we asked of the server, or our asks left out.
        (
            &asked_server,
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11",
            bad("server_max_window_bits", Some("11")),
        ),
        (
            &asked_server,
            "permessage-deflate; server_max_window_bits=10",
            Err(Fault::MissingParam("server_no_context_takeover")),
        ),
        (
            &asked_server,
            "permessage-deflate; server_no_context_takeover",
            Err(Fault::MissingParam("server_max_window_bits")),
        ),
    ];
    for (offered, response, expected) in cases {
        assert_eq!(&run(offered, response), expected, "{response:?}");
    }
}

#[test]
fn any_extension_is_refused_when_nothing_was_offered() {
    // Compression off: we offered nothing, so any extension fails
    // (RFC 6455 §4.1); an absent or empty header is fine.
    assert_eq!(
        check(
            None,
            [b"permessage-deflate; client_max_window_bits=10".as_slice()]
        ),
        Err(Fault::NotOffered("permessage-deflate".into()))
    );
    assert_eq!(check(None, [b"".as_slice()]), Ok(None));
    assert_eq!(check(None, Vec::<&[u8]>::new()), Ok(None));
}

#[test]
fn several_header_lines_are_one_list() {
    assert_eq!(
        check(
            Some(&offer()),
            [b"".as_slice(), b"permessage-deflate".as_slice()]
        ),
        Ok(agreed(false, false, 15, 15))
    );
    assert_eq!(
        check(
            Some(&offer()),
            [
                b"permessage-deflate".as_slice(),
                b"permessage-deflate".as_slice()
            ]
        ),
        Err(Fault::AcceptedTwice)
    );
}

#[test]
fn faults_become_protocol_errors() {
    let err = negotiate(Some(&offer()), [b"permessage-deflate; mux".as_slice()]).unwrap_err();
    assert_eq!(err.category(), crate::ErrorCategory::Protocol);
    assert_eq!(
        err.message(),
        "invalid sec-websocket-extensions response: unknown permessage-deflate parameter `mux`"
    );
}

#[test]
fn arbitrary_bytes_never_panic() {
    let alphabet = b"permsag-dflt_wbi=;,\" \t\\0189\xff";
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state.to_le_bytes()
    };
    for _ in 0..20_000 {
        let len = usize::from(next()[0] % 40);
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[usize::from(next()[3]) % alphabet.len()])
            .collect();
        let _ = check(Some(&offer()), [bytes.as_slice()]);
    }
}
