//! The self-signed certificate authority and the serving certificate for 127.0.0.1.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Generating certificates or building the TLS configuration failed.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// rcgen could not build a certificate.
    #[error("generating the {what} certificate: {source}")]
    Generate {
        /// Which certificate.
        what: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// rustls rejected the certificate or key.
    #[error("building the TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// A CA and a serving certificate signed by it.
pub struct ServingCerts {
    /// PEM of the CA certificate (what kubeconfig's certificate-authority-data holds).
    pub ca_pem: String,
    /// rustls configuration serving the signed certificate.
    pub server_config: Arc<rustls::ServerConfig>,
}

fn serial() -> SerialNumber {
    // A positive 16-byte serial: Go rejects negative ones.
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    SerialNumber::from(bytes.to_vec())
}

/// Create a fresh CA and a certificate for `localhost` and `127.0.0.1`.
///
/// # Errors
/// [`CertError`] when rcgen or rustls fail.
pub fn generate() -> Result<ServingCerts, CertError> {
    let gen = |what| move |source| CertError::Generate { what, source };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(gen("CA"))?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kube-double-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.serial_number = Some(serial());
    let ca_key = KeyPair::generate().map_err(gen("CA key"))?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(gen("CA"))?;

    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .map_err(gen("serving"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.serial_number = Some(serial());
    let key = KeyPair::generate().map_err(gen("serving key"))?;
    let cert = params
        .signed_by(&key, &ca_cert, &ca_key)
        .map_err(gen("serving"))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServingCerts {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}
