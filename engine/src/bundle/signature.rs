//! Signed bundles: who made a bundle, checked against keys a host trusts.
//!
//! A bundle's hash says its bytes are intact; a signature says they come from someone the host
//! trusts (the head office's build, not a laptop or an attacker who can reach `PUT
//! /v1/bundle`). Ed25519 (`ed25519-dalek`, strict verification): small keys and signatures,
//! deterministic signing, no randomness needed to sign or verify.
//!
//! What is signed is the bundle's identity, not its bytes again: the message is
//! `"omnirule bundle signature v1\0"`, the key id and the SHA-256 of the body (the header's
//! hash, which binds the body). The key id (the first 8 bytes of SHA-256 of the public key)
//! names the key, so a host with several trusted keys (a rotation) knows which to use, and
//! an operator can read which key signed a bundle. Keys are written as text:
//! `ed25519:<64 hex digits>` for a public key; the secret key file that `omnirule keygen`
//! writes holds `omnirule-ed25519-secret:<64 hex digits>` (the 32-byte seed).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use omnirule_text::hex;
use sha2::{Digest, Sha256};
use std::fmt;

/// The prefix of a public key's text form.
pub const PUBLIC_KEY_PREFIX: &str = "ed25519:";
/// The prefix of a secret key file's text.
pub const SECRET_KEY_PREFIX: &str = "omnirule-ed25519-secret:";
/// Bytes of the signature block after a signed bundle's body: key id, then signature.
pub const BLOCK_LEN: usize = 8 + 64;
const CONTEXT: &[u8] = b"omnirule bundle signature v1\0";

/// The first 8 bytes of SHA-256 of a public key: which key signed a bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    fn of(key: &VerifyingKey) -> KeyId {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// A bundle's signature: the signer's key id and the Ed25519 signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSignature {
    pub key: KeyId,
    pub value: [u8; 64],
}

/// Why a bundle's signature, or a key, was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// The host trusts keys and the bundle carries no signature.
    Unsigned,
    /// Signed with a key the host does not trust.
    UnknownKey { key: String },
    /// Signed under a trusted key id, but the signature does not verify.
    BadSignature { key: String },
    /// A key's text is not a key.
    BadKey(String),
}

impl fmt::Display for SignatureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignatureError::Unsigned => f.write_str(
                "the bundle is not signed, and this host accepts only bundles signed by a trusted key (build it with `omnirule build --sign KEY`)",
            ),
            SignatureError::UnknownKey { key } => write!(
                f,
                "the bundle is signed by key {key}, which this host does not trust"
            ),
            SignatureError::BadSignature { key } => write!(
                f,
                "the bundle's signature by key {key} does not match its content: it was altered after signing, or forged"
            ),
            SignatureError::BadKey(m) => write!(f, "not a valid key: {m}"),
        }
    }
}

impl std::error::Error for SignatureError {}

fn message(key: KeyId, hash: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(CONTEXT.len() + 8 + 32);
    m.extend_from_slice(CONTEXT);
    m.extend_from_slice(&key.0);
    m.extend_from_slice(hash);
    m
}

fn hex32(text: &str) -> Result<[u8; 32], SignatureError> {
    let text = text.trim();
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(SignatureError::BadKey(format!(
            "expected 64 hexadecimal digits, got `{}`",
            text.chars().take(80).collect::<String>()
        )));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = text.get(2 * i..2 * i + 2).unwrap_or("00");
        *byte = u8::from_str_radix(pair, 16).unwrap_or(0);
    }
    Ok(out)
}

/// A secret signing key (from a key file's text, see the module documentation).
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// From the 32-byte seed (fresh randomness for a new key).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// From a key file's text.
    pub fn from_text(text: &str) -> Result<SecretKey, SignatureError> {
        let hex = text.trim().strip_prefix(SECRET_KEY_PREFIX).ok_or_else(|| {
            SignatureError::BadKey(format!(
                "a secret key file starts with `{SECRET_KEY_PREFIX}`"
            ))
        })?;
        Ok(SecretKey::from_seed(hex32(hex)?))
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        format!("{SECRET_KEY_PREFIX}{}\n", hex(self.0.as_bytes()))
    }

    /// The public key's text form (`ed25519:...`).
    pub fn public_text(&self) -> String {
        format!(
            "{PUBLIC_KEY_PREFIX}{}",
            hex(self.0.verifying_key().as_bytes())
        )
    }

    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.0.verifying_key())
    }

    /// Signs a bundle hash.
    pub(crate) fn sign(&self, hash: &[u8; 32]) -> BundleSignature {
        let key = self.key_id();
        BundleSignature {
            key,
            value: self.0.sign(&message(key, hash)).to_bytes(),
        }
    }
}

/// A public key as written (`ed25519:<hex>`): its bytes and id. Not yet checked to be a point
/// of the curve: [`TrustedKeys::check`] does that, and verification refuses a bad one. (A
/// browser verifies with WebCrypto and needs only the bytes: the curve arithmetic stays out
/// of its module.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub id: KeyId,
    pub bytes: [u8; 32],
}

/// The public keys a host accepts bundles from.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    keys: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Keys as text: `ed25519:<hex>` each, separated by commas, spaces or new lines (`#`
    /// starts a comment to the end of the line). No key at all is an error: a host that
    /// means to trust nothing must not end up accepting everything.
    pub fn parse(text: &str) -> Result<TrustedKeys, SignatureError> {
        let mut keys = Vec::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default();
            for word in line.split(|c: char| c == ',' || c.is_whitespace()) {
                if word.is_empty() {
                    continue;
                }
                let hex = word.strip_prefix(PUBLIC_KEY_PREFIX).ok_or_else(|| {
                    SignatureError::BadKey(format!(
                        "a public key is written `{PUBLIC_KEY_PREFIX}<64 hex digits>`, got `{}`",
                        word.chars().take(80).collect::<String>()
                    ))
                })?;
                let bytes = hex32(hex)?;
                let digest = Sha256::digest(bytes);
                let mut id = [0u8; 8];
                id.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
                keys.push(PublicKey {
                    id: KeyId(id),
                    bytes,
                });
            }
        }
        if keys.is_empty() {
            return Err(SignatureError::BadKey("no public key given".into()));
        }
        Ok(TrustedKeys { keys })
    }

    /// [`TrustedKeys::parse`], then checks that every key is a valid Ed25519 public key, so
    /// that a host reports a mistyped key when it starts rather than at the first bundle.
    pub fn parse_checked(text: &str) -> Result<TrustedKeys, SignatureError> {
        let keys = TrustedKeys::parse(text)?;
        for k in &keys.keys {
            VerifyingKey::from_bytes(&k.bytes).map_err(|_| {
                SignatureError::BadKey(format!(
                    "`{PUBLIC_KEY_PREFIX}{}` is not an Ed25519 public key",
                    hex(&k.bytes)
                ))
            })?;
        }
        Ok(keys)
    }

    /// The key ids, for logs.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    /// The trusted key a signature names, with the signature, or why it cannot be checked:
    /// what a host that verifies with its platform's Ed25519 (WebCrypto) needs, with
    /// [`signed_message`].
    pub fn signer<'s>(
        &self,
        signature: Option<&'s BundleSignature>,
    ) -> Result<(&PublicKey, &'s BundleSignature), SignatureError> {
        let s = signature.ok_or(SignatureError::Unsigned)?;
        let key =
            self.keys
                .iter()
                .find(|k| k.id == s.key)
                .ok_or_else(|| SignatureError::UnknownKey {
                    key: s.key.to_string(),
                })?;
        Ok((key, s))
    }

    /// Checks a bundle's signature (`None`: unsigned) over its hash; the signer's key id.
    pub(crate) fn verify(
        &self,
        hash: &[u8; 32],
        signature: Option<&BundleSignature>,
    ) -> Result<KeyId, SignatureError> {
        let (signer, s) = self.signer(signature)?;
        let bad = || SignatureError::BadSignature {
            key: s.key.to_string(),
        };
        let key = VerifyingKey::from_bytes(&signer.bytes).map_err(|_| bad())?;
        key.verify_strict(&message(s.key, hash), &Signature::from_bytes(&s.value))
            .map_err(|_| bad())?;
        Ok(s.key)
    }
}

/// The bytes a bundle's signature signs (see the module documentation).
pub fn signed_message(key: KeyId, hash: &[u8; 32]) -> Vec<u8> {
    message(key, hash)
}
