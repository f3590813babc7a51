//! The TLS flags every zenoh command shares (`sim serve`, `top`, `worker`,
//! `train --workers`), turned into `LinkSecurity`. A robot's controller takes
//! the same files from its config's `[plant.tls]` instead.

use std::path::PathBuf;

use clap::Args;

use ganglion::io::zenoh::{LinkSecurity, TlsFiles};

#[derive(Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// TLS (on tls/ endpoints): the CA certificate (PEM) the other side's
    /// certificate is checked against.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// TLS: this side's certificate (PEM); needed to listen and for mutual TLS.
    #[arg(long, requires = "tls_ca", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS: this side's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: both sides present a certificate signed by the CA.
    #[arg(long, requires = "tls_key")]
    pub mtls: bool,
}

impl TlsArgs {
    /// The TLS files, if `--tls-ca` was given.
    pub fn files(&self) -> Option<TlsFiles> {
        self.tls_ca.clone().map(|ca| TlsFiles {
            ca,
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            mutual: self.mtls,
        })
    }

    /// Link security with these files and no access-control rule.
    pub fn security(&self) -> LinkSecurity {
        LinkSecurity {
            tls: self.files(),
            controller_cn: None,
        }
    }
}
