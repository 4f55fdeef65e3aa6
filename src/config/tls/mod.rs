//! Per-endpoint TLS settings: which roots to trust, extra PEM roots (a
//! private CA), a client certificate, or a whole rustls config; built once
//! into the `rustls::ClientConfig` the endpoint's connections use.

mod native;
mod pem;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use rustls::{ClientConfig, RootCertStore};

#[cfg(all(test, feature = "native-roots"))]
use self::native::store_of;
use self::{
    native::native_store,
    pem::{certificates, private_key, Pem},
};
use crate::ConfigError;

/// TLS settings for one endpoint's `wss://` or `https://` connections.
///
/// Start from the roots to trust, add private CAs and a client certificate,
/// and hand the result to
/// [`EndpointBuilder::tls`](crate::EndpointBuilder::tls). An endpoint's
/// settings win over [`SupervisorConfig::tls`](crate::SupervisorConfig::tls);
/// an endpoint without them uses the supervisor's (by default the bundled
/// webpki roots). Plain `ws://` and `http://` endpoints, and custom
/// transports, ignore them.
///
/// The rustls config is built once, when the endpoint config is built or
/// validated (the process's default crypto provider, else `ring`; TLS 1.2
/// and 1.3; ALPN `http/1.1`). PEM files are read then, so a rotated client
/// certificate needs new settings (the config read again from its file, or
/// settings made again in code): clones, and configs cloned from one
/// another, share the config built first, and with it one connection pool
/// per thread. Give many endpoints clones of one `TlsSettings` rather than
/// equal copies.
///
/// A bad certificate, key or file is a [`ConfigError`] naming the field
/// (`tls.extra_roots`, `tls.client_cert`, `tls.client_key`, `tls.roots`);
/// neither the errors nor `Debug` ever show key material.
///
/// # Config files
/// In a deserialized [`EndpointConfig`](crate::EndpointConfig), `tls` names
/// PEM files by path (`roots` is `"webpki"` (default), `"native"` or
/// `"none"`):
///
/// ```
/// use actix_tether::EndpointConfig;
/// let config: EndpointConfig = serde_json::from_str(r#"{
///     "url": "wss://feed.internal/stream",
///     "tls": {
///         "roots": "none",
///         "extra_roots": ["/etc/feed/ca.pem"],
///         "client_cert": "/etc/feed/client.pem",
///         "client_key": "/etc/feed/client.key"
///     }
/// }"#).unwrap();
/// assert!(config.tls.is_some());
/// ```
///
/// Settings made in code from PEM bytes or a [`ClientConfig`] cannot be
/// serialized (serializing them is an error): key material never leaves
/// the process through a config file.
///
/// ```
/// use actix_tether::{EndpointConfig, TlsSettings};
/// let err = EndpointConfig::websocket("wss://feed.internal/stream")
///     .tls(TlsSettings::webpki_roots().with_root_pem("not a certificate"))
///     .build()
///     .unwrap_err();
/// assert_eq!(err.field(), "tls.extra_roots");
/// ```
#[derive(Clone, Default)]
pub struct TlsSettings {
    roots: Roots,
    extra_roots: Vec<Pem>,
    client_cert: Option<Pem>,
    client_key: Option<Pem>,
    custom: Option<Arc<ClientConfig>>,
    /// Built on first use; shared by clones, renewed by every change.
    built: Arc<OnceLock<Arc<ClientConfig>>>,
}

/// The start of every client config the crate builds: the process's
/// default crypto provider when the application installed one (and it
/// speaks TLS 1.2 or 1.3), else `ring`, the one this crate compiles in.
/// rustls's plain `ClientConfig::builder()` would panic where more than one
/// provider is compiled in and none is installed.
pub(crate) fn client_builder() -> rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier> {
    let installed = rustls::crypto::CryptoProvider::get_default().and_then(|p| {
        ClientConfig::builder_with_provider(p.clone())
            .with_safe_default_protocol_versions()
            .ok()
    });
    installed.unwrap_or_else(|| {
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring speaks TLS 1.2 and 1.3")
    })
}

/// Which root store the settings start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Roots {
    /// Mozilla's roots, bundled through `webpki-roots`.
    #[default]
    Webpki,
    /// The operating system's store (`native-roots` feature).
    Native,
    /// None: only the extra roots.
    None,
}

impl TlsSettings {
    /// Trusts the Mozilla root certificates bundled with the crate
    /// (`webpki-roots`): what endpoints use when nothing is set.
    pub fn webpki_roots() -> Self {
        Self::default()
    }

    /// Trusts the operating system's root certificates (read through
    /// `rustls-native-certs` when the config is built; `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override the platform's store). Certificates the
    /// platform store holds but rustls cannot parse are skipped; a store
    /// with none usable is a [`ConfigError`] on `tls.roots` at build time.
    #[cfg(feature = "native-roots")]
    pub fn native_roots() -> Self {
        Self {
            roots: Roots::Native,
            ..Self::default()
        }
    }

    /// Trusts only the CA certificates in `pem` (one or more `CERTIFICATE`
    /// sections): a private CA, with the public roots left out. Parsed at
    /// build time; invalid PEM is a [`ConfigError`] on `tls.extra_roots`.
    pub fn private_ca(pem: impl AsRef<[u8]>) -> Self {
        Self {
            roots: Roots::None,
            ..Self::default()
        }
        .with_root_pem(pem)
    }

    /// Uses `config` as it is (the ALPN list aside, which is set to
    /// `http/1.1`): for verifiers, providers or protocol versions these
    /// settings do not cover. It cannot be combined with the other
    /// settings.
    pub fn from_client_config(config: Arc<ClientConfig>) -> Self {
        Self {
            custom: Some(config),
            ..Self::default()
        }
    }

    /// Also trusts the CA certificates in `pem` (one or more `CERTIFICATE`
    /// sections; other sections are ignored).
    pub fn with_root_pem(mut self, pem: impl AsRef<[u8]>) -> Self {
        self.extra_roots.push(Pem::inline(pem));
        self.changed()
    }

    /// Also trusts the CA certificates in the PEM file at `path` (read at
    /// build time).
    pub fn with_root_pem_file(mut self, path: impl AsRef<Path>) -> Self {
        self.extra_roots.push(Pem::File(path.as_ref().to_owned()));
        self.changed()
    }

    /// Presents a client certificate: `chain_pem` holds the certificate
    /// first, then any intermediates; `key_pem` its private key (PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn with_client_cert_pem(
        mut self,
        chain_pem: impl AsRef<[u8]>,
        key_pem: impl AsRef<[u8]>,
    ) -> Self {
        self.client_cert = Some(Pem::inline(chain_pem));
        self.client_key = Some(Pem::inline(key_pem));
        self.changed()
    }

    /// Presents the client certificate chain and key in these PEM files
    /// (read at build time).
    pub fn with_client_cert_pem_files(
        mut self,
        chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Self {
        self.client_cert = Some(Pem::File(chain_path.as_ref().to_owned()));
        self.client_key = Some(Pem::File(key_path.as_ref().to_owned()));
        self.changed()
    }

    /// A change forgets the config built from the old settings (which
    /// clones made before the change keep).
    fn changed(mut self) -> Self {
        self.built = Arc::default();
        self
    }

    /// The rustls config these settings describe, built on first use and
    /// shared by clones.
    ///
    /// # Errors
    /// [`ConfigError`] naming the setting at fault: a PEM file that cannot
    /// be read, invalid PEM, a certificate rustls refuses, a key that does
    /// not match the certificate, a client certificate without its key, no
    /// trusted root at all, or native roots without the `native-roots`
    /// feature.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, ConfigError> {
        if let Some(built) = self.built.get() {
            return Ok(built.clone());
        }
        let config = self.build()?;
        // A racing builder may have won: everyone uses the stored one.
        Ok(self.built.get_or_init(|| config).clone())
    }

    fn build(&self) -> Result<Arc<ClientConfig>, ConfigError> {
        if let Some(custom) = &self.custom {
            if !self.extra_roots.is_empty() || self.client_cert.is_some() {
                return Err(ConfigError::new(
                    "tls",
                    "a whole rustls ClientConfig takes no extra roots or client certificate",
                ));
            }
            return Ok(custom.clone());
        }
        let mut roots = self.root_store()?;
        for source in &self.extra_roots {
            for cert in certificates(&source.read("tls.extra_roots")?, "tls.extra_roots")? {
                roots.add(cert).map_err(|_| {
                    ConfigError::new(
                        "tls.extra_roots",
                        "holds a certificate that is not a usable ca certificate",
                    )
                })?;
            }
        }
        if roots.is_empty() {
            return Err(ConfigError::new(
                "tls.roots",
                "no root certificate to trust: add a pem root or start from webpki roots",
            ));
        }
        let builder = client_builder().with_root_certificates(roots);
        let config = match (&self.client_cert, &self.client_key) {
            (None, None) => builder.with_no_client_auth(),
            (Some(cert), Some(key)) => {
                let chain = certificates(&cert.read("tls.client_cert")?, "tls.client_cert")?;
                let key = private_key(&key.read("tls.client_key")?)?;
                builder.with_client_auth_cert(chain, key).map_err(|_| {
                    ConfigError::new(
                        "tls.client_key",
                        "does not match the client certificate, or its algorithm is unsupported",
                    )
                })?
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(ConfigError::new(
                    "tls.client_key",
                    "a client certificate needs its key, and a key its certificate",
                ))
            }
        };
        Ok(Arc::new(config))
    }

    fn root_store(&self) -> Result<RootCertStore, ConfigError> {
        match self.roots {
            Roots::Webpki => Ok(actix_tls::connect::rustls_0_23::webpki_roots_cert_store()),
            Roots::None => Ok(RootCertStore::empty()),
            Roots::Native => native_store(),
        }
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("TlsSettings");
        if self.custom.is_some() {
            return d.field("client_config", &"custom").finish();
        }
        d.field("roots", &self.roots)
            .field("extra_roots", &self.extra_roots)
            .field("client_cert", &self.client_cert);
        match &self.client_key {
            Some(Pem::File(path)) => d.field("client_key", &path),
            Some(Pem::Inline(_)) => d.field("client_key", &"<inline, redacted>"),
            None => d.field("client_key", &None::<()>),
        };
        d.finish()
    }
}

/// Serde form: paths only.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsForm {
    #[serde(default)]
    roots: Roots,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    extra_roots: Vec<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_cert: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_key: Option<PathBuf>,
}

impl serde::Serialize for TlsSettings {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let path = |pem: &Pem| match pem {
            Pem::File(path) => Ok(path.clone()),
            Pem::Inline(_) => Err(S::Error::custom(
                "tls settings with inline pem cannot be serialized: name pem files instead",
            )),
        };
        if self.custom.is_some() {
            return Err(S::Error::custom(
                "tls settings with a rustls ClientConfig cannot be serialized",
            ));
        }
        TlsForm {
            roots: self.roots,
            extra_roots: self
                .extra_roots
                .iter()
                .map(path)
                .collect::<Result<_, _>>()?,
            client_cert: self.client_cert.as_ref().map(path).transpose()?,
            client_key: self.client_key.as_ref().map(path).transpose()?,
        }
        .serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for TlsSettings {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let form = TlsForm::deserialize(deserializer)?;
        Ok(Self {
            roots: form.roots,
            extra_roots: form.extra_roots.into_iter().map(Pem::File).collect(),
            client_cert: form.client_cert.map(Pem::File),
            client_key: form.client_key.map(Pem::File),
            ..Self::default()
        })
    }
}

#[cfg(test)]
mod tests;
