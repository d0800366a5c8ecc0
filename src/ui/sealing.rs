//! Export files protected with a passphrase, in the page with WebCrypto: a key from PBKDF2-SHA-256
//! (`facelab::sealed::ITERATIONS` rounds, a random salt), AES-256-GCM with a random nonce and the
//! envelope's header as additional data. The format is `facelab::sealed`.

use facelab::sealed::{ITERATIONS, NONCE_BYTES, SALT_BYTES, Sealed, SealedError};
use js_sys::{Array, Object, Reflect, Uint8Array};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

/// Why a file could not be protected or opened.
#[derive(Debug, thiserror::Error)]
pub enum SealingError {
    #[error("{0}")]
    Sealed(#[from] SealedError),
    #[error("this browser cannot encrypt here ({0})")]
    NoCrypto(String),
}

fn no_crypto(e: JsValue) -> SealingError {
    SealingError::NoCrypto(e.as_string().unwrap_or_else(|| format!("{e:?}")))
}

fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (name, value) in fields {
        let _ = Reflect::set(&object, &(*name).into(), value);
    }
    object
}

fn subtle() -> Result<SubtleCrypto, SealingError> {
    let window = web_sys::window().ok_or_else(|| SealingError::NoCrypto("no window".into()))?;
    Ok(window.crypto().map_err(no_crypto)?.subtle())
}

fn random_bytes(n: usize) -> Result<Vec<u8>, SealingError> {
    let mut bytes = vec![0; n];
    let window = web_sys::window().ok_or_else(|| SealingError::NoCrypto("no window".into()))?;
    window.crypto().map_err(no_crypto)?.get_random_values_with_u8_array(&mut bytes).map_err(no_crypto)?;
    Ok(bytes)
}

/// The AES-GCM key for `passphrase` and `salt`.
async fn key(subtle: &SubtleCrypto, passphrase: &str, salt: &[u8], iterations: u32) -> Result<CryptoKey, SealingError> {
    let secret = Uint8Array::from(passphrase.as_bytes());
    let base = subtle.import_key_with_str("raw", &secret, "PBKDF2", false, &Array::of1(&"deriveKey".into())).map_err(no_crypto)?;
    let base: CryptoKey = JsFuture::from(base).await.map_err(no_crypto)?.unchecked_into();
    let pbkdf2 = object(&[
        ("name", "PBKDF2".into()),
        ("hash", "SHA-256".into()),
        ("salt", Uint8Array::from(salt).into()),
        ("iterations", iterations.into()),
    ]);
    let aes = object(&[("name", "AES-GCM".into()), ("length", 256.into())]);
    let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
    let key = subtle.derive_key_with_object_and_object(&pbkdf2, &base, &aes, false, &usages).map_err(no_crypto)?;
    Ok(JsFuture::from(key).await.map_err(no_crypto)?.unchecked_into())
}

fn gcm(sealed: &Sealed) -> Object {
    object(&[
        ("name", "AES-GCM".into()),
        ("iv", Uint8Array::from(sealed.nonce.as_slice()).into()),
        ("additionalData", Uint8Array::from(sealed.associated_data().as_slice()).into()),
    ])
}

/// `plain` (a file of format `contents`) encrypted under `passphrase`, as a protected file.
pub async fn seal(plain: &[u8], contents: &str, passphrase: &str) -> Result<Vec<u8>, SealingError> {
    let subtle = subtle()?;
    let mut sealed = Sealed::new(contents, random_bytes(SALT_BYTES)?, random_bytes(NONCE_BYTES)?, Vec::new());
    let key = key(&subtle, passphrase, &sealed.salt, ITERATIONS).await?;
    let encrypted = subtle.encrypt_with_object_and_u8_array(&gcm(&sealed), &key, plain).map_err(no_crypto)?;
    sealed.ciphertext = Uint8Array::new(&JsFuture::from(encrypted).await.map_err(no_crypto)?).to_vec();
    Ok(sealed.to_json())
}

/// The file itself where it is not protected; else what it protects, opened with `passphrase`.
pub async fn open(bytes: Vec<u8>, passphrase: &str) -> Result<Vec<u8>, SealingError> {
    let sealed = match Sealed::detect(&bytes) {
        None => return Ok(bytes),
        Some(sealed) => sealed?,
    };
    if passphrase.is_empty() {
        return Err(SealedError::NeedsPassphrase.into());
    }
    let subtle = subtle()?;
    let key = key(&subtle, passphrase, &sealed.salt, sealed.iterations).await?;
    let decrypted = subtle.decrypt_with_object_and_u8_array(&gcm(&sealed), &key, &sealed.ciphertext).map_err(no_crypto)?;
    // GCM's check failing is the only way a decryption fails here.
    let plain = JsFuture::from(decrypted).await.map_err(|_| SealedError::WrongPassphraseOrTampered)?;
    Ok(Uint8Array::new(&plain).to_vec())
}

/// The passphrase field next to an export and an import: empty, files are plain JSON.
#[component]
pub fn PassphraseField(value: RwSignal<String>, testid: &'static str) -> impl IntoView {
    view! {
        <label class="passphrase">"Passphrase (optional: protects a JSON export, opens a protected file) "
            <input type="password" autocomplete="new-password" data-testid=testid prop:value=value
                on:input=move |ev| value.set(event_target_value(&ev))/>
        </label>
    }
}
