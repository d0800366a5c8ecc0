//! A file protected with a passphrase: the envelope around an export (the people's or the
//! library's), encrypted with AES-256-GCM under a key derived by PBKDF2-SHA-256. The page
//! encrypts and decrypts with WebCrypto (`ui::sealing`); this module is the format: what the
//! envelope holds, what it must say to be read, and the header bytes the tag covers, so that a
//! changed header is refused like a changed ciphertext.

use serde::{Deserialize, Serialize};

pub const FORMAT: &str = "facelab-sealed";
pub const VERSION: u32 = 1;
pub const CIPHER: &str = "AES-256-GCM";
pub const KDF: &str = "PBKDF2-SHA-256";
/// OWASP's figure for PBKDF2-HMAC-SHA256 (2023).
pub const ITERATIONS: u32 = 600_000;
/// More than this is not a file we wrote, and would keep the page deriving a key for minutes.
const MOST_ITERATIONS: u32 = 10_000_000;
pub const SALT_BYTES: usize = 16;
pub const NONCE_BYTES: usize = 12;
/// GCM's tag, appended to the ciphertext.
const TAG_BYTES: usize = 16;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sealed {
    pub format: String,
    pub version: u32,
    /// The format of what is inside (`facelab-export`, `facelab-library`).
    pub contents: String,
    pub cipher: String,
    pub kdf: String,
    pub iterations: u32,
    #[serde(with = "crate::encoding::base64_bytes")]
    pub salt: Vec<u8>,
    #[serde(with = "crate::encoding::base64_bytes")]
    pub nonce: Vec<u8>,
    /// The encrypted file followed by GCM's tag.
    #[serde(with = "crate::encoding::base64_bytes")]
    pub ciphertext: Vec<u8>,
}

/// Why a protected file was not opened; each is a sentence for the user.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SealedError {
    #[error("this file is protected with a passphrase: type it in the passphrase field and import it again")]
    NeedsPassphrase,
    #[error("the passphrase is wrong, or the file was changed after it was exported")]
    WrongPassphraseOrTampered,
    #[error("the protected file is damaged: {0}")]
    Damaged(String),
    #[error("this protected file is version {0}; this page reads version {VERSION}")]
    UnsupportedVersion(u32),
    #[error("this protected file uses {0}, which this page does not read")]
    Unsupported(String),
}

impl Sealed {
    /// The envelope of `ciphertext` (tag included), encrypted under `salt` and `nonce`.
    pub fn new(contents: &str, salt: Vec<u8>, nonce: Vec<u8>, ciphertext: Vec<u8>) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            contents: contents.into(),
            cipher: CIPHER.into(),
            kdf: KDF.into(),
            iterations: ITERATIONS,
            salt,
            nonce,
            ciphertext,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("an envelope serializes")
    }

    /// The header as the tag covers it (GCM's additional data): changing the iterations or what
    /// the file says it holds makes it fail to open, as a changed ciphertext does.
    pub fn associated_data(&self) -> Vec<u8> {
        format!("{}\n{}\n{}\n{}\n{}\n{}", self.format, self.version, self.contents, self.cipher, self.kdf, self.iterations).into_bytes()
    }

    /// `None` where `bytes` are not a protected file (they are read as they are); else the
    /// envelope, checked, or why it cannot be opened.
    pub fn detect(bytes: &[u8]) -> Option<Result<Self, SealedError>> {
        #[derive(Deserialize)]
        struct Format {
            format: Option<String>,
        }
        let format: Format = serde_json::from_slice(bytes).ok()?;
        (format.format.as_deref() == Some(FORMAT)).then(|| Self::read(bytes))
    }

    fn read(bytes: &[u8]) -> Result<Self, SealedError> {
        let sealed: Self = serde_json::from_slice(bytes).map_err(|e| SealedError::Damaged(e.to_string()))?;
        if sealed.version != VERSION {
            return Err(SealedError::UnsupportedVersion(sealed.version));
        }
        if sealed.cipher != CIPHER || sealed.kdf != KDF {
            return Err(SealedError::Unsupported(format!("{} with a key from {}", sealed.cipher, sealed.kdf)));
        }
        if !(ITERATIONS..=MOST_ITERATIONS).contains(&sealed.iterations) {
            return Err(SealedError::Damaged(format!("{} key derivation rounds (expected {ITERATIONS} to {MOST_ITERATIONS})", sealed.iterations)));
        }
        if sealed.salt.len() != SALT_BYTES || sealed.nonce.len() != NONCE_BYTES {
            return Err(SealedError::Damaged(format!("a {}-byte salt and a {}-byte nonce (expected {SALT_BYTES} and {NONCE_BYTES})", sealed.salt.len(), sealed.nonce.len())));
        }
        if sealed.ciphertext.len() < TAG_BYTES {
            return Err(SealedError::Damaged("the encrypted part is cut short".into()));
        }
        Ok(sealed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Sealed {
        Sealed::new("facelab-export", vec![1; SALT_BYTES], vec![2; NONCE_BYTES], vec![3; 40])
    }

    #[test]
    fn an_envelope_reads_back_and_plain_files_are_not_envelopes() {
        let sealed = example();
        assert_eq!(Sealed::detect(&sealed.to_json()), Some(Ok(sealed)));
        assert_eq!(Sealed::detect(br#"{"format":"facelab-export","version":2,"people":[]}"#), None);
        assert_eq!(Sealed::detect(b"not json"), None);
    }

    #[test]
    fn a_changed_header_changes_what_the_tag_covers() {
        let sealed = example();
        let fewer_rounds = Sealed { iterations: ITERATIONS + 1, ..sealed.clone() };
        assert_ne!(sealed.associated_data(), fewer_rounds.associated_data());
        let other_contents = Sealed { contents: "facelab-library".into(), ..sealed.clone() };
        assert_ne!(sealed.associated_data(), other_contents.associated_data());
    }

    #[test]
    fn envelopes_we_did_not_write_are_refused_with_the_reason() {
        let refused = |sealed: Sealed| Sealed::detect(&sealed.to_json()).expect("an envelope").unwrap_err();
        let sealed = example();
        assert_eq!(refused(Sealed { version: 2, ..sealed.clone() }), SealedError::UnsupportedVersion(2));
        assert!(matches!(refused(Sealed { cipher: "AES-128-CBC".into(), ..sealed.clone() }), SealedError::Unsupported(_)));
        assert!(matches!(refused(Sealed { iterations: 1000, ..sealed.clone() }), SealedError::Damaged(_)));
        assert!(matches!(refused(Sealed { iterations: u32::MAX, ..sealed.clone() }), SealedError::Damaged(_)));
        assert!(matches!(refused(Sealed { nonce: vec![0; 8], ..sealed.clone() }), SealedError::Damaged(_)));
        assert!(matches!(refused(Sealed { ciphertext: vec![0; 15], ..sealed.clone() }), SealedError::Damaged(_)));
        let cut = &sealed.to_json()[..60];
        // Cut short, it is not JSON at all: read as a plain file, which the importer refuses.
        assert_eq!(Sealed::detect(cut), None);
    }
}
