//! Who wrote a manifest. age gives confidentiality, not authenticity: the recipient is public
//! (it is in every manifest), so anyone who can write to a bucket can encrypt a dump to it. A
//! manifest therefore carries an HMAC-SHA256 keyed from the recovery key's secret half, which
//! only its holder can compute; the manifest in turn pins every artifact by size and SHA-256.
//! See docs/storage-format.md for how to check one by hand.

use age::secrecy::ExposeSecret;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;
use ts_rs::TS;

use crate::manifest::BackupManifest;

pub const SCHEME: &str = "hmac-sha256";
/// What the recovery key's secret is keyed with to get the manifest key, so the key that
/// authenticates manifests is never the one that decrypts artifacts.
const KEY_CONTEXT: &[u8] = b"lifeboat manifest authentication v1";

/// The MAC over a manifest, inside the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct Authentication {
    pub scheme: String,
    /// Lowercase hex HMAC-SHA256 of the manifest's canonical JSON without this field.
    pub mac: String,
}

/// The key manifests are authenticated with, derived from a recovery key.
pub struct ManifestKey([u8; 32]);

/// A key for `context` derived from the recovery key's secret half, so no two uses share a
/// key and none is the one that decrypts artifacts.
pub(crate) fn derive_key(identity: &age::x25519::Identity, context: &[u8]) -> [u8; 32] {
    let secret = identity.to_string();
    // hmac (RustCrypto, already in the tree through age and sqlx) rather than a hand-made
    // construction: HMAC keyed with the secret is a standard key derivation (HKDF-extract).
    let mut derive = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes keys of any length");
    derive.update(context);
    derive.finalize().into_bytes().into()
}

impl ManifestKey {
    pub fn from_identity(identity: &age::x25519::Identity) -> Self {
        Self(derive_key(identity, KEY_CONTEXT))
    }

    fn mac_of(&self, manifest: &Value) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(&canonical(manifest));
        mac
    }

    /// Sets the manifest's authentication to one this key vouches for.
    pub fn seal(&self, manifest: &mut BackupManifest) {
        manifest.authentication = None;
        let value = serde_json::to_value(&*manifest).expect("a manifest serializes");
        let mac = self.mac_of(&value).finalize().into_bytes();
        manifest.authentication = Some(Authentication {
            scheme: SCHEME.to_owned(),
            mac: hex(&mac),
        });
    }

    /// Checks a stored manifest's authentication against this key, over the stored bytes as
    /// they are (fields this version does not know included).
    pub fn check(&self, body: &[u8]) -> Result<(), Unauthenticated> {
        let mut value: Value =
            serde_json::from_slice(body).map_err(|_| Unauthenticated::Missing)?;
        let Some(object) = value.as_object_mut() else {
            return Err(Unauthenticated::Missing);
        };
        let authentication: Authentication = match object.remove("authentication") {
            None | Some(Value::Null) => return Err(Unauthenticated::Missing),
            Some(found) => serde_json::from_value(found).map_err(|_| Unauthenticated::Invalid)?,
        };
        if authentication.scheme != SCHEME {
            return Err(Unauthenticated::Invalid);
        }
        let expected = unhex(&authentication.mac).ok_or(Unauthenticated::Invalid)?;
        self.mac_of(&value)
            .verify_slice(&expected)
            .map_err(|_| Unauthenticated::Invalid)
    }
}

/// Why a manifest is not vouched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    /// No authentication at all: forged, or written before Lifeboat authenticated manifests.
    Missing,
    /// An authentication this key does not confirm: forged or changed after it was written.
    Invalid,
}

impl std::fmt::Display for Unauthenticated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Missing => "its manifest carries no authentication (written by someone else, or by a Lifeboat from before manifests were authenticated)",
            Self::Invalid => "its manifest's authentication does not match the recovery key (forged, or changed after it was written)",
        })
    }
}

/// JSON with object keys sorted at every level and no whitespace, so the MAC does not depend on
/// how a writer ordered or indented the file.
fn canonical(value: &Value) -> Vec<u8> {
    struct Sorted<'a>(&'a Value);
    impl Serialize for Sorted<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::{SerializeMap, SerializeSeq};
            match self.0 {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    let mut out = s.serialize_map(Some(keys.len()))?;
                    for key in keys {
                        out.serialize_entry(key, &Sorted(&map[key]))?;
                    }
                    out.end()
                }
                Value::Array(items) => {
                    let mut out = s.serialize_seq(Some(items.len()))?;
                    for item in items {
                        out.serialize_element(&Sorted(item))?;
                    }
                    out.end()
                }
                other => other.serialize(s),
            }
        }
    }
    serde_json::to_vec(&Sorted(value)).expect("JSON values serialize")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> BackupManifest {
        crate::manifest::parse(include_bytes!("../tests/fixtures/manifest-v1.json")).unwrap()
    }

    #[test]
    fn a_sealed_manifest_checks_as_stored_and_after_reindenting() {
        let key = ManifestKey::from_identity(&age::x25519::Identity::generate());
        let mut m = manifest();
        key.seal(&mut m);
        let pretty = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(key.check(&pretty), Ok(()));
        assert_eq!(key.check(&serde_json::to_vec(&m).unwrap()), Ok(()));
    }

    #[test]
    fn another_key_a_changed_field_an_added_field_or_no_mac_is_refused() {
        let key = ManifestKey::from_identity(&age::x25519::Identity::generate());
        let other = ManifestKey::from_identity(&age::x25519::Identity::generate());
        let mut m = manifest();
        key.seal(&mut m);
        let body = serde_json::to_vec_pretty(&m).unwrap();
        assert_eq!(other.check(&body), Err(Unauthenticated::Invalid));

        let mut changed = m.clone();
        changed.created_at = "2099-01-01T00:00:00.000Z".into();
        let changed = serde_json::to_vec(&changed).unwrap();
        assert_eq!(key.check(&changed), Err(Unauthenticated::Invalid));

        let mut added: Value = serde_json::from_slice(&body).unwrap();
        added["extra"] = Value::Bool(true);
        let added = serde_json::to_vec(&added).unwrap();
        assert_eq!(key.check(&added), Err(Unauthenticated::Invalid));

        m.authentication = None;
        let bare = serde_json::to_vec(&m).unwrap();
        assert_eq!(key.check(&bare), Err(Unauthenticated::Missing));
        assert_eq!(key.check(b"[]"), Err(Unauthenticated::Missing));
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"d":[{"z":1,"y":2}],"c":"x"}}"#).unwrap();
        assert_eq!(
            String::from_utf8(canonical(&v)).unwrap(),
            r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#
        );
    }
}
