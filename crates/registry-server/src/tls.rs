//! TLS for the registry: a certificate and key from files, or a self-signed pair made on
//! first start (and kept under the root, so clients trust it once).

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The PEM or key is not usable.
    #[error("{what}: {why}")]
    Invalid {
        /// Which file or step.
        what: String,
        /// What is wrong.
        why: String,
    },
}

/// The server configuration for `cert` and `key` (PEM files); with `client_ca`, every
/// client must present a certificate that CA signed (mutual TLS).
pub fn from_files(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let invalid = |what: &Path, why: String| TlsError::Invalid {
        what: what.display().to_string(),
        why,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid(cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(cert, "no certificate in it".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(key, e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(cert, e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_file_iter(ca).map_err(|e| invalid(ca, e.to_string()))? {
                roots
                    .add(c.map_err(|e| invalid(ca, e.to_string()))?)
                    .map_err(|e| invalid(ca, e.to_string()))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| invalid(ca, e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key_der)
        .map_err(|e| invalid(cert, e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A self-signed certificate for `hosts` (names and IP addresses), made once into
/// `dir/cert.pem` and `dir/key.pem` and reused after; returns the paths.
pub fn self_signed(dir: &Path, hosts: &[String]) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).map_err(|e| TlsError::Io {
        path: dir.to_path_buf(),
        source: e,
    })?;
    let made =
        rcgen::generate_simple_self_signed(hosts.to_vec()).map_err(|e| TlsError::Invalid {
            what: "making a self-signed certificate".into(),
            why: e.to_string(),
        })?;
    let write = |path: &Path, text: String, mode: u32| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| TlsError::Io {
                path: path.to_path_buf(),
                source: e,
            })
    };
    write(&key, made.signing_key.serialize_pem(), 0o600)?;
    write(&cert, made.cert.pem(), 0o644)?;
    Ok((cert, key))
}
