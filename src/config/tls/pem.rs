//! PEM text for TLS settings: where it comes from (a file read when the
//! config is built, or inline bytes) and the certificates and key it holds,
//! with errors that never quote it (it may hold a key).

use std::{borrow::Cow, fmt, path::PathBuf, sync::Arc};

use rustls::pki_types::{pem, pem::PemObject, CertificateDer, PrivateKeyDer};

use crate::ConfigError;

/// Where PEM text comes from.
#[derive(Clone)]
pub(super) enum Pem {
    File(PathBuf),
    Inline(Arc<[u8]>),
}

impl Pem {
    pub(super) fn inline(pem: impl AsRef<[u8]>) -> Self {
        Self::Inline(pem.as_ref().into())
    }

    pub(super) fn read(&self, field: &'static str) -> Result<Cow<'_, [u8]>, ConfigError> {
        match self {
            Self::Inline(bytes) => Ok(Cow::Borrowed(bytes)),
            Self::File(path) => std::fs::read(path).map(Into::into).map_err(|e| {
                ConfigError::new(field, format!("cannot read {}: {e}", path.display()))
            }),
        }
    }
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Inline(bytes) => write!(f, "<inline pem, {} bytes>", bytes.len()),
        }
    }
}

/// Every `CERTIFICATE` section in `pem`; none, or broken PEM, is an error.
pub(super) fn certificates(
    pem: &[u8],
    field: &'static str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(field, pem_problem(&e, "CERTIFICATE")))?;
    if certs.is_empty() {
        return Err(ConfigError::new(
            field,
            pem_problem(&pem::Error::NoItemsFound, "CERTIFICATE"),
        ));
    }
    Ok(certs)
}

/// The first private key in `pem`.
pub(super) fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, ConfigError> {
    PrivateKeyDer::from_pem_slice(pem)
        .map_err(|e| ConfigError::new("tls.client_key", pem_problem(&e, "PRIVATE KEY")))
}

/// What is wrong with some PEM, in words that never quote it (it may be a
/// key).
fn pem_problem(err: &pem::Error, wanted: &str) -> String {
    match err {
        pem::Error::NoItemsFound => format!("holds no {wanted} pem section"),
        pem::Error::MissingSectionEnd { .. } => {
            "is not valid pem: a section has no END line".into()
        }
        pem::Error::IllegalSectionStart { .. } => "is not valid pem: a malformed BEGIN line".into(),
        pem::Error::Base64Decode(_) => "is not valid pem: a section is not base64".into(),
        pem::Error::SectionTooLarge => "is not valid pem: a section is too large".into(),
        _ => "is not valid pem".into(),
    }
}
