//! TLS settings built from real PEM material, and their errors.

use super::*;

fn ca() -> (String, rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), cert, key)
}

fn leaf(ca: &rcgen::Certificate, ca_key: &rcgen::KeyPair) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["client".to_owned()]).unwrap();
    let cert = params.signed_by(&key, ca, ca_key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn field_of(settings: &TlsSettings) -> &'static str {
    settings.client_config().unwrap_err().field()
}

#[test]
fn valid_settings_build_once_and_clones_share_the_config() {
    let (ca_pem, ca, ca_key) = ca();
    let (cert, key) = leaf(&ca, &ca_key);
    let settings = TlsSettings::private_ca(&ca_pem).with_client_cert_pem(&cert, &key);
    let built = settings.client_config().unwrap();
    assert!(built.client_auth_cert_resolver.has_certs());
    let clone = settings.clone();
    assert!(Arc::ptr_eq(&built, &clone.client_config().unwrap()));
    // A changed clone builds its own.
    let changed = clone.with_root_pem(&ca_pem);
    assert!(!Arc::ptr_eq(&built, &changed.client_config().unwrap()));
    assert!(TlsSettings::webpki_roots().client_config().is_ok());
}

#[test]
fn invalid_pem_is_a_config_error_naming_the_field() {
    let (ca_pem, ca, ca_key) = ca();
    let (cert, key) = leaf(&ca, &ca_key);
    let cases: Vec<(TlsSettings, &str, &str)> = vec![
        (
            TlsSettings::private_ca("no pem here"),
            "tls.extra_roots",
            "holds no CERTIFICATE",
        ),
        (
            TlsSettings::private_ca("-----BEGIN CERTIFICATE-----\nAAAA\n"),
            "tls.extra_roots",
            "no END line",
        ),
        (
            TlsSettings::private_ca(
                "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
            ),
            "tls.extra_roots",
            "not base64",
        ),
        (
            // Well-formed PEM around bytes that are no certificate.
            TlsSettings::private_ca(
                "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
            ),
            "tls.extra_roots",
            "not a usable ca",
        ),
        (
            TlsSettings::private_ca(&ca_pem).with_client_cert_pem(&cert, "not a key"),
            "tls.client_key",
            "holds no PRIVATE KEY",
        ),
        (
            TlsSettings::private_ca(&ca_pem).with_client_cert_pem("", &key),
            "tls.client_cert",
            "holds no CERTIFICATE",
        ),
        (
            // The CA's certificate with the leaf's key: a mismatch.
            TlsSettings::private_ca(&ca_pem).with_client_cert_pem(&ca_pem, &key),
            "tls.client_key",
            "does not match",
        ),
        (
            TlsSettings::private_ca(&ca_pem).with_root_pem_file("/nonexistent/ca.pem"),
            "tls.extra_roots",
            "cannot read /nonexistent/ca.pem",
        ),
        (
            TlsSettings::from_client_config(TlsSettings::webpki_roots().client_config().unwrap())
                .with_root_pem(&ca_pem),
            "tls",
            "takes no extra roots",
        ),
    ];
    for (settings, field, words) in cases {
        let err = settings.client_config().unwrap_err();
        assert_eq!(err.field(), field, "{err}");
        assert!(err.to_string().contains(words), "{err}");
    }
    let key_only = TlsSettings {
        client_key: Some(Pem::inline(&key)),
        ..TlsSettings::private_ca(&ca_pem)
    };
    assert_eq!(field_of(&key_only), "tls.client_key");
    let no_roots: TlsSettings = serde_json::from_str(r#"{"roots": "none"}"#).unwrap();
    assert_eq!(field_of(&no_roots), "tls.roots");
}

#[test]
fn errors_and_debug_never_show_key_material() {
    let (ca_pem, ca, ca_key) = ca();
    let (cert, key) = leaf(&ca, &ca_key);
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let broken_key = key.replace("-----END PRIVATE KEY-----", "");
    let bad_base64 = key.replacen('\n', "\n!", 1);
    for bad in [broken_key, bad_base64] {
        let settings = TlsSettings::private_ca(&ca_pem).with_client_cert_pem(&cert, &bad);
        let err = settings.client_config().unwrap_err().to_string();
        assert!(err.starts_with("invalid tls.client_key"), "{err}");
        for line in bad.lines().filter(|l| l.len() > 8) {
            assert!(!err.contains(line), "{err}");
        }
    }
    let settings = TlsSettings::private_ca(&ca_pem).with_client_cert_pem(&cert, &key);
    let debug = format!("{settings:?}");
    assert!(!debug.contains(&body[..40]), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

#[test]
fn config_files_name_pem_files_and_inline_pem_does_not_serialize() {
    let settings: TlsSettings = serde_json::from_str(
        r#"{"roots": "none", "extra_roots": ["ca.pem"],
            "client_cert": "c.pem", "client_key": "k.pem"}"#,
    )
    .unwrap();
    let debug = format!("{settings:?}");
    assert!(
        debug.contains("ca.pem") && debug.contains("k.pem"),
        "{debug}"
    );
    let text = serde_json::to_string(&settings).unwrap();
    let again: TlsSettings = serde_json::from_str(&text).unwrap();
    assert_eq!(format!("{again:?}"), debug);
    assert!(serde_json::from_str::<TlsSettings>(r#"{"bogus": 1}"#).is_err());
    let inline = TlsSettings::private_ca("pem");
    assert!(serde_json::to_string(&inline).is_err());

    // Whole endpoint configs round-trip, the TLS verdict included.
    let config = crate::EndpointConfig::websocket("wss://h/")
        .on_tls_failure(crate::Verdict::Fail)
        .build()
        .unwrap();
    let text = serde_json::to_string(&config).unwrap();
    let again: crate::EndpointConfig = serde_json::from_str(&text).unwrap();
    assert_eq!(again.on_tls_failure, crate::Verdict::Fail);
    assert!(again.tls.is_none());
    let default: crate::EndpointConfig = serde_json::from_str(r#"{"url": "wss://h/"}"#).unwrap();
    assert_eq!(
        default.on_tls_failure,
        crate::Verdict::Retry {
            urgency: crate::Urgency::Fault,
            min_wait: super::super::DEFAULT_TLS_FAILURE_DELAY,
        }
    );
}

#[cfg(feature = "native-roots")]
#[test]
fn native_stores_keep_what_parses_and_refuse_an_empty_one() {
    let (ca_pem, _, _) = ca();
    let good = certificates(ca_pem.as_bytes(), "tls.roots").unwrap();
    let junk = rustls::pki_types::CertificateDer::from(vec![1, 2, 3]);
    let store = store_of(vec![junk.clone(), good[0].clone()], None).unwrap();
    assert_eq!(store.len(), 1);
    let err = store_of(vec![junk], Some("no such file".into())).unwrap_err();
    assert_eq!(err.field(), "tls.roots");
    assert!(err.to_string().contains("no such file"), "{err}");
    // The real store builds, or says why not; it never panics.
    if let Err(err) = TlsSettings::native_roots().client_config() {
        assert_eq!(err.field(), "tls.roots");
    }
}

#[cfg(not(feature = "native-roots"))]
#[test]
fn native_roots_without_the_feature_is_a_config_error() {
    let native: TlsSettings = serde_json::from_str(r#"{"roots": "native"}"#).unwrap();
    let err = native.client_config().unwrap_err();
    assert_eq!(err.field(), "tls.roots");
    assert!(err.to_string().contains("native-roots"), "{err}");
}
