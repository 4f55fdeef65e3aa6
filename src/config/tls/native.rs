//! The platform's root store (`native-roots` feature).

#[cfg(feature = "native-roots")]
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;

use crate::ConfigError;

#[cfg(feature = "native-roots")]
pub(super) fn native_store() -> Result<RootCertStore, ConfigError> {
    let found = rustls_native_certs::load_native_certs();
    store_of(found.certs, found.errors.first().map(ToString::to_string))
}

/// The usable certificates of a platform store; none is an error that says
/// what the platform reported.
#[cfg(feature = "native-roots")]
pub(super) fn store_of(
    certs: Vec<CertificateDer<'static>>,
    first_error: Option<String>,
) -> Result<RootCertStore, ConfigError> {
    let mut roots = RootCertStore::empty();
    let (_added, _skipped) = roots.add_parsable_certificates(certs);
    if roots.is_empty() {
        let why = first_error.unwrap_or_else(|| "none found".to_owned());
        return Err(ConfigError::new(
            "tls.roots",
            format!("no usable native root certificate: {why}"),
        ));
    }
    Ok(roots)
}

#[cfg(not(feature = "native-roots"))]
pub(super) fn native_store() -> Result<RootCertStore, ConfigError> {
    Err(ConfigError::new(
        "tls.roots",
        "native roots need the `native-roots` cargo feature",
    ))
}
