//! The cluster identity and the cluster file.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::{Result, TransportError, io};

/// What a scheduler holds: its certificate, private key and secret.
pub struct ClusterIdentity {
    /// The self-signed certificate (DER).
    pub certificate: Vec<u8>,
    /// The certificate's private key (PKCS#8 DER).
    pub private_key: Vec<u8>,
    /// The secret every peer must prove.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for ClusterIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterIdentity").field("certificate_bytes", &self.certificate.len()).finish_non_exhaustive()
    }
}

impl ClusterIdentity {
    /// A fresh identity: a new key pair, a certificate for the name `tessera`, and a
    /// random secret.
    pub fn generate() -> Result<ClusterIdentity> {
        let key = rcgen::generate_simple_self_signed(vec![crate::tls::SERVER_NAME.to_string()])
            .map_err(|e| TransportError::Tls(e.to_string()))?;
        let mut secret = [0u8; 32];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| TransportError::Tls("the system random generator failed".into()))?;
        Ok(ClusterIdentity {
            certificate: key.cert.der().to_vec(),
            private_key: key.signing_key.serialize_der(),
            secret,
        })
    }

    /// The cluster file for this identity listening at `address`.
    pub fn cluster_file(&self, address: SocketAddr) -> ClusterFile {
        ClusterFile { address, certificate: self.certificate.clone(), secret: self.secret }
    }
}

/// What workers and clients need to join: the address, the certificate to pin and the
/// secret. Stored as JSON with hex-encoded bytes, readable by its owner only.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterFile {
    /// The scheduler's address.
    pub address: SocketAddr,
    /// The scheduler's certificate (DER), pinned by peers.
    pub certificate: Vec<u8>,
    /// The cluster secret.
    pub secret: [u8; 32],
}

impl std::fmt::Debug for ClusterFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterFile").field("address", &self.address).finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    address: String,
    certificate: String,
    secret: String,
    protocol: u32,
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

/// Cluster files are a few hundred bytes; anything past this is not one.
const CLUSTER_FILE_LIMIT: u64 = 64 << 10;

impl ClusterFile {
    /// Writes the file with mode 0600 (replacing any previous one).
    pub fn write(&self, path: &Path) -> Result<()> {
        let on_disk = OnDisk {
            address: self.address.to_string(),
            certificate: to_hex(&self.certificate),
            secret: to_hex(&self.secret),
            protocol: crate::PROTOCOL_VERSION,
        };
        let text = serde_json::to_string_pretty(&on_disk).map_err(|e| TransportError::Tls(e.to_string()))?;
        let context = format!("cannot write cluster file {}", path.display());
        let _ = std::fs::remove_file(path);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path).map_err(io(context.clone()))?;
        file.write_all(text.as_bytes()).map_err(io(context))
    }

    /// Reads and checks a cluster file. Like ssh with a private key, it refuses a file
    /// that others may read (the secret in it admits anyone to the cluster), and
    /// anything but a small regular file.
    pub fn read(path: &Path) -> Result<ClusterFile> {
        let bad =
            |reason: &str| TransportError::ClusterFile { path: path.display().to_string(), reason: reason.into() };
        let context = format!("cannot read cluster file {}", path.display());
        // Opened without blocking: a FIFO would wait for a writer forever.
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = options.open(path).map_err(io(context.clone()))?;
        let meta = file.metadata().map_err(io(context.clone()))?;
        if !meta.is_file() {
            return Err(bad("it is not a regular file"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(bad(&format!(
                    "others can read it (mode {mode:o}) and it holds the cluster secret; run `chmod 600 {}`",
                    path.display()
                )));
            }
        }
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::Read::take(file, CLUSTER_FILE_LIMIT + 1), &mut text)
            .map_err(io(context))?;
        ClusterFile::parse(&text, &path.display().to_string())
    }

    /// Checks and decodes a cluster file's text (one fetched from another host, say);
    /// `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ClusterFile> {
        let bad = |reason: &str| TransportError::ClusterFile { path: origin.to_string(), reason: reason.into() };
        if text.len() as u64 > CLUSTER_FILE_LIMIT {
            return Err(bad(&format!("it is larger than {CLUSTER_FILE_LIMIT} bytes")));
        }
        let on_disk: OnDisk = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let address = on_disk.address.parse().map_err(|_| bad("the address is not host:port"))?;
        let certificate = from_hex(&on_disk.certificate).ok_or_else(|| bad("the certificate is not hex"))?;
        let secret: [u8; 32] = from_hex(&on_disk.secret)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| bad("the secret is not 32 hex-encoded bytes"))?;
        if on_disk.protocol != crate::PROTOCOL_VERSION {
            return Err(bad(&format!(
                "it is for protocol version {}, this tessera speaks {}",
                on_disk.protocol,
                crate::PROTOCOL_VERSION
            )));
        }
        Ok(ClusterFile { address, certificate, secret })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_owner_only_permissions() {
        let id = ClusterIdentity::generate().expect("identity");
        let file = id.cluster_file("127.0.0.1:4567".parse().expect("addr"));
        let path = std::env::temp_dir().join(format!("tessera-cluster-{}.json", std::process::id()));
        file.write(&path).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(ClusterFile::read(&path).expect("read"), file);
        std::fs::write(&path, "{\"address\": \"nowhere\"}").expect("overwrite");
        let err = ClusterFile::read(&path).expect_err("invalid");
        assert!(err.to_string().starts_with("invalid cluster file"), "{err}");
        // A cluster file others can read is refused, saying how to fix it.
        file.write(&path).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
            let err = ClusterFile::read(&path).expect_err("world-readable");
            assert!(err.to_string().contains("chmod 600"), "{err}");
        }
        let _ = std::fs::remove_file(path);
        assert_ne!(ClusterIdentity::generate().expect("identity").secret, id.secret);
    }
}
