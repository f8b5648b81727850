//! The issuer's JWKS (`keys.json`) with any number of keys: building it in ccoctl's byte
//! layout, reading which keys a served one holds, and the kid-level difference of two.
//!
//! Owns the multi-key document and the vocabulary a key rotation is reviewed in (keys
//! added, removed, kept, by `kid`). Pure: no I/O, no printing. Key material and the kid
//! rule live in `keypair`; this module only arranges public keys.
//!
//! Order: a built JWKS lists the keys in the order they are given, without sorting.
//! `SigningKey::jwks_keeping` gives them in the order that keeps the last served key the
//! newest (the keys recorded as served first, new ones after), which `rotation` relies on.

use serde_json::Value;

use crate::keypair::PublicKey;
use crate::resource::UNKNOWN;

/// The JWKS serving `keys`, in the order given, byte for byte as ccoctl would write it
/// for them: Go's `json.MarshalIndent(.., "", "    ")` of go-jose keys (fields use, kty,
/// kid, alg, n, e), no trailing newline. `PublicKey::jwks` is this for one key.
///
/// A key given twice (same kid) is served once, at its first place: a JWKS with two
/// entries of one kid makes verifiers pick either, and nothing is gained by it.
pub fn document(keys: &[PublicKey]) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut entries = Vec::new();
    for key in keys {
        let kid = key.kid();
        if seen.contains(&kid) {
            continue;
        }
        let (n, e) = key.jwk_components();
        // Hand-formatted, as `PublicKey::jwks`: the byte layout is the contract, and
        // every value is base64url or a fixed word, so nothing needs JSON escaping.
        entries.push(format!(
            concat!(
                "        {{\n",
                "            \"use\": \"sig\",\n",
                "            \"kty\": \"RSA\",\n",
                "            \"kid\": \"{kid}\",\n",
                "            \"alg\": \"RS256\",\n",
                "            \"n\": \"{n}\",\n",
                "            \"e\": \"{e}\"\n",
                "        }}"
            ),
            kid = kid,
            n = n,
            e = e,
        ));
        seen.push(kid);
    }
    if entries.is_empty() {
        // Go marshals an empty slice as `[]` on one line.
        return "{\n    \"keys\": []\n}".to_string();
    }
    format!("{{\n    \"keys\": [\n{}\n    ]\n}}", entries.join(",\n"))
}

/// One key of a JWKS as served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedKey {
    /// Its `kid`; `None` when the entry has none (never the case for ccoctl or stsform).
    pub kid: Option<String>,
    /// The entry as JSON, to compare key material by meaning rather than by bytes.
    pub entry: Value,
}

impl ServedKey {
    /// The kid, or a label saying it has none and where it is (1-based position).
    pub fn label(&self, position: usize) -> String {
        self.kid
            .clone()
            .unwrap_or_else(|| format!("(key {position} has no kid)"))
    }
}

/// What a `keys.json` content holds, as far as keys go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Keys {
    /// A JWKS: its keys in document order.
    Keys(Vec<ServedKey>),
    /// Not known until apply: the key pair is generated then (`UNKNOWN`).
    Unknown,
    /// Not a JWKS (someone uploaded something else): why.
    Invalid(String),
}

/// Reads the keys of a JWKS text.
pub fn keys(text: &str) -> Keys {
    if text == UNKNOWN {
        return Keys::Unknown;
    }
    let doc: Value = match serde_json::from_str(text) {
        Ok(doc) => doc,
        Err(e) => return Keys::Invalid(format!("not valid JSON ({e})")),
    };
    let Some(list) = doc.get("keys").and_then(Value::as_array) else {
        return Keys::Invalid("no `keys` array".to_string());
    };
    Keys::Keys(
        list.iter()
            .map(|entry| ServedKey {
                kid: entry.get("kid").and_then(Value::as_str).map(str::to_string),
                entry: entry.clone(),
            })
            .collect(),
    )
}

/// The kids a JWKS text serves, in document order; keys without a kid are left out, and
/// so is everything of a document that is not a JWKS (it serves no key a token can name).
pub fn kids(text: &str) -> Vec<String> {
    match keys(text) {
        Keys::Keys(keys) => keys.into_iter().filter_map(|k| k.kid).collect(),
        Keys::Unknown | Keys::Invalid(_) => Vec::new(),
    }
}

/// One side of a `keys.json` change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// The object does not exist on this side (a create, or a delete).
    Absent,
    /// The content, read.
    Present(Keys),
}

impl Side {
    /// The side for an optional content (`None`: the object is absent).
    pub fn of(content: Option<&str>) -> Side {
        content.map_or(Side::Absent, |c| Side::Present(keys(c)))
    }

    fn served(&self) -> &[ServedKey] {
        match self {
            Side::Present(Keys::Keys(keys)) => keys,
            _ => &[],
        }
    }
}

/// How the keys of `keys.json` change: what a reviewer of a rotation needs, by kid.
///
/// Every list is in document order (`added` and `kept` in the new document's, `removed`
/// in the old one's). Keys without a kid are labelled by position and never match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyChanges {
    /// Served after, not before: tokens signed with them start to verify.
    pub added: Vec<String>,
    /// Served before, not after: tokens signed with them will be rejected.
    pub removed: Vec<String>,
    /// Served on both sides with other key material (same kid, other `n`/`e`/`alg`...):
    /// tokens signed with the old material will be rejected.
    pub changed: Vec<String>,
    /// Served on both sides, the same.
    pub kept: Vec<String>,
    /// Every key served after, in the new document's order (added, changed and kept
    /// interleaved as served).
    pub after: Vec<String>,
    /// The keys present on both sides are listed in another order.
    pub reordered: bool,
    /// The keys are the same and in the same order, but the bytes differ (indentation,
    /// field order, other top-level fields): a change of form only.
    pub reformatted: bool,
    /// The new side is only known after apply (a key generated then).
    pub after_unknown: bool,
    /// Why the old side is not a JWKS, when it is not.
    pub before_invalid: Option<String>,
    /// Why the new side is not a JWKS, when it is not.
    pub after_invalid: Option<String>,
}

impl KeyChanges {
    /// Whether some token that verifies now would be rejected afterwards.
    pub fn breaks_tokens(&self) -> bool {
        !self.removed.is_empty() || !self.changed.is_empty()
    }

    /// Whether nothing about the served keys changes (form aside).
    pub fn same_keys(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && !self.reordered
            && !self.after_unknown
            && self.before_invalid.is_none()
            && self.after_invalid.is_none()
    }
}

/// The kid-level difference between two `keys.json` contents (`None`: no object).
///
/// A side only known after apply counts as removing every key served before (the new
/// key is generated then, so no served kid can be in it).
pub fn diff(before: Option<&str>, after: Option<&str>) -> KeyChanges {
    let (old, new) = (Side::of(before), Side::of(after));
    let invalid = |side: &Side| match side {
        Side::Present(Keys::Invalid(why)) => Some(why.clone()),
        _ => None,
    };
    let mut changes = KeyChanges {
        after_unknown: matches!(new, Side::Present(Keys::Unknown)),
        before_invalid: invalid(&old),
        after_invalid: invalid(&new),
        ..KeyChanges::default()
    };
    let (old_keys, new_keys) = (old.served(), new.served());
    let find = |keys: &[ServedKey], kid: &Option<String>| {
        kid.as_ref()
            .and_then(|kid| keys.iter().find(|k| k.kid.as_ref() == Some(kid)))
            .map(|k| k.entry.clone())
    };
    let mut common_new_order = Vec::new();
    for (i, key) in new_keys.iter().enumerate() {
        let label = key.label(i + 1);
        changes.after.push(label.clone());
        match find(old_keys, &key.kid) {
            None => changes.added.push(label),
            Some(entry) if entry == key.entry => {
                common_new_order.push(label.clone());
                changes.kept.push(label);
            }
            Some(_) => {
                common_new_order.push(label.clone());
                changes.changed.push(label);
            }
        }
    }
    let mut common_old_order = Vec::new();
    for (i, key) in old_keys.iter().enumerate() {
        let label = key.label(i + 1);
        if find(new_keys, &key.kid).is_some() {
            common_old_order.push(label);
        } else {
            changes.removed.push(label);
        }
    }
    changes.reordered = common_old_order != common_new_order;
    let both_read = matches!(
        (&old, &new),
        (Side::Present(Keys::Keys(_)), Side::Present(Keys::Keys(_)))
    );
    changes.reformatted = both_read && changes.same_keys() && before != after;
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXED: &str = include_str!("../tests/fixtures/keys/fixed.public.pem");
    const CCOCTL: &str = include_str!("../tests/fixtures/keys/ccoctl-test.public.pem");
    const FIXED_KID: &str = "yOLncXRrBJ6wYxcvUcKXTF1tRUGKVW6_7x5sQhsk4Is";
    const CCOCTL_KID: &str = "vTM0nbCme-yk2IjmPYHm9h5pYmdR-9LztPbV76J2C6E";

    fn key(pem: &str) -> PublicKey {
        PublicKey::from_pem(pem, "test").unwrap()
    }

    #[test]
    fn one_key_is_ccoctls_document() {
        // The layout of ccoctl's `03-keys.json` for its test key (the modulus itself is
        // checked against openssl's in tests/it/keypair.rs).
        let text = document(&[key(CCOCTL)]);
        let (n, _) = key(CCOCTL).jwk_components();
        assert_eq!(
            text,
            format!(
                "{{\n    \"keys\": [\n        {{\n            \"use\": \"sig\",\n            \"kty\": \"RSA\",\n            \"kid\": \"{CCOCTL_KID}\",\n            \"alg\": \"RS256\",\n            \"n\": \"{n}\",\n            \"e\": \"AQAB\"\n        }}\n    ]\n}}"
            )
        );
        assert_eq!(key(CCOCTL).jwks(), text);
    }

    #[test]
    fn several_keys_keep_the_given_order_in_go_layout() {
        let (a, b) = (key(FIXED), key(CCOCTL));
        let text = document(&[a.clone(), b.clone()]);
        // Go's MarshalIndent: `},` then the next `{` on its own line, 8 spaces deep.
        assert!(text.starts_with("{\n    \"keys\": [\n        {\n            \"use\": \"sig\",\n"));
        assert!(text.contains("\n        },\n        {\n            \"use\": \"sig\",\n"));
        assert!(text.ends_with("\n        }\n    ]\n}"));
        assert_eq!(kids(&text), [FIXED_KID, CCOCTL_KID]);
        let reversed = document(&[b, a]);
        assert_eq!(kids(&reversed), [CCOCTL_KID, FIXED_KID]);
        // Each entry is the one-key document's entry, field for field.
        let doc: Value = serde_json::from_str(&text).unwrap();
        let single: Value = serde_json::from_str(&key(CCOCTL).jwks()).unwrap();
        assert_eq!(doc["keys"][1], single["keys"][0]);
        let fields: Vec<&String> = doc["keys"][0].as_object().unwrap().keys().collect();
        assert_eq!(fields, ["use", "kty", "kid", "alg", "n", "e"]);
    }

    #[test]
    fn a_key_given_twice_is_served_once_and_none_is_an_empty_set() {
        let (a, b) = (key(FIXED), key(CCOCTL));
        let text = document(&[a.clone(), b, a]);
        assert_eq!(kids(&text), [FIXED_KID, CCOCTL_KID]);
        assert_eq!(document(&[]), "{\n    \"keys\": []\n}");
        assert_eq!(keys(&document(&[])), Keys::Keys(vec![]));
    }

    #[test]
    fn reading_tells_unknown_and_invalid_apart() {
        assert_eq!(keys(UNKNOWN), Keys::Unknown);
        assert!(matches!(keys("{"), Keys::Invalid(why) if why.starts_with("not valid JSON")));
        assert_eq!(
            keys(r#"{"keys": 1}"#),
            Keys::Invalid("no `keys` array".into())
        );
        let Keys::Keys(read) = keys(r#"{"keys": [{"kty": "RSA"}, {"kid": "k"}]}"#) else {
            panic!()
        };
        assert_eq!(read[0].label(1), "(key 1 has no kid)");
        assert_eq!(read[1].label(2), "k");
        assert_eq!(kids(r#"{"keys": [{"kty": "RSA"}, {"kid": "k"}]}"#), ["k"]);
        assert!(kids("garbage").is_empty());
    }

    #[test]
    fn rotation_phases_read_as_kids_added_then_removed() {
        let (a, b) = (key(FIXED), key(CCOCTL));
        let one = document(std::slice::from_ref(&a));
        let both = document(&[a.clone(), b.clone()]);
        let new_only = document(std::slice::from_ref(&b));

        let add = diff(Some(&one), Some(&both));
        assert_eq!(add.added, [CCOCTL_KID]);
        assert_eq!(add.kept, [FIXED_KID]);
        assert!(add.removed.is_empty() && !add.breaks_tokens());
        assert!(!add.reordered && !add.reformatted && !add.same_keys());
        assert_eq!(add.after, [FIXED_KID, CCOCTL_KID]);

        let retire = diff(Some(&both), Some(&new_only));
        assert_eq!(retire.removed, [FIXED_KID]);
        assert_eq!(retire.kept, [CCOCTL_KID]);
        assert!(retire.added.is_empty() && retire.breaks_tokens());

        let same = diff(Some(&both), Some(&both));
        assert!(same.same_keys() && !same.reformatted);
        assert_eq!(same.kept, [FIXED_KID, CCOCTL_KID]);
    }

    #[test]
    fn create_delete_unknown_and_garbage_sides() {
        let a = key(FIXED);
        let one = document(std::slice::from_ref(&a));
        let create = diff(None, Some(&one));
        assert_eq!(create.added, [FIXED_KID]);
        let delete = diff(Some(&one), None);
        assert_eq!(delete.removed, [FIXED_KID]);
        assert!(delete.breaks_tokens());
        // A key generated during apply: nothing served now survives.
        let generated = diff(Some(&one), Some(UNKNOWN));
        assert!(generated.after_unknown && generated.breaks_tokens());
        assert_eq!(generated.removed, [FIXED_KID]);
        let repaired = diff(Some("<html>"), Some(&one));
        assert!(repaired.before_invalid.is_some());
        assert_eq!(repaired.added, [FIXED_KID]);
        assert!(!repaired.reformatted);
    }

    #[test]
    fn other_material_under_one_kid_reorders_and_reformats_are_told_apart() {
        let (a, b) = (key(FIXED), key(CCOCTL));
        let both = document(&[a.clone(), b.clone()]);
        // Same kid, another modulus: a tampered entry.
        let mut doc: Value = serde_json::from_str(&both).unwrap();
        doc["keys"][0]["n"] = Value::String("AQAB".into());
        let tampered = serde_json::to_string_pretty(&doc).unwrap();
        let fix = diff(Some(&tampered), Some(&both));
        assert_eq!(fix.changed, [FIXED_KID]);
        assert_eq!(fix.kept, [CCOCTL_KID]);
        assert!(fix.breaks_tokens());

        let reordered = diff(Some(&both), Some(&document(&[b, a])));
        assert!(reordered.reordered && !reordered.breaks_tokens() && !reordered.same_keys());
        assert!(reordered.added.is_empty() && reordered.removed.is_empty());

        // jq's two-space output of the same keys: form only.
        let compact =
            serde_json::to_string(&serde_json::from_str::<Value>(&both).unwrap()).unwrap();
        let form = diff(Some(&compact), Some(&both));
        assert!(form.same_keys() && form.reformatted && !form.breaks_tokens());
    }
}
