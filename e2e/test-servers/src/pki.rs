//! A private certificate authority for TLS tests: a server certificate signed by a CA that
//! no system trust store holds, so a client gets through only when given that CA.

use anyhow::Context;

/// A CA and a server certificate for one host name signed by it, all PEM.
pub struct TestPki {
    /// The CA certificate, to hand to the client under test.
    pub ca_pem: String,
    /// The server certificate, for `host`, usable for server authentication.
    pub cert_pem: String,
    /// The server's private key.
    pub key_pem: String,
}

impl TestPki {
    /// Issues a new CA and a certificate for `host` (a DNS name, or an IP address, which
    /// becomes an IP subject alternative name).
    pub fn issue(host: &str) -> anyhow::Result<TestPki> {
        let ca_key = rcgen::KeyPair::generate().context("generating the CA key")?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fleet test CA");
        let ca = ca_params
            .self_signed(&ca_key)
            .context("self-signing the CA")?;
        let key = rcgen::KeyPair::generate().context("generating the server key")?;
        let mut params = rcgen::CertificateParams::new(vec![host.to_string()])
            .with_context(|| format!("certificate parameters for {host}"))?;
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params
            .signed_by(&key, &ca, &ca_key)
            .context("signing the server certificate")?;
        Ok(TestPki {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}
