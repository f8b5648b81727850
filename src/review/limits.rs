//! IAM's documented limits on what stsform sends, and how IAM counts against them.
//!
//! Sources: the IAM User Guide's "IAM and AWS STS quotas" (name rules, character quotas,
//! object quotas) and the policy grammar. Pure functions returning one-line problems;
//! `review` places them at a file, document and field.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A role's inline policies together, in characters without white space.
pub const ROLE_POLICY_SIZE: usize = 10_240;
/// A role's trust policy, in characters without white space: the default of the
/// adjustable "Role trust policy length" quota.
pub const TRUST_POLICY_LENGTH: usize = 2_048;
/// Role names.
pub const ROLE_NAME_LENGTH: usize = 64;
/// OIDC providers per account: IAM's default; the account summary does not report it.
pub const OPENID_CONNECT_PROVIDERS: usize = 100;

/// The account's quotas where they may differ from IAM's defaults (`[quotas]` in
/// `stsform.toml`, for an account whose quota was raised in Service Quotas).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quotas {
    /// "Role trust policy length".
    pub role_trust_policy_length: usize,
    /// "OpenId Connect providers per account".
    pub openid_connect_providers: usize,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            role_trust_policy_length: TRUST_POLICY_LENGTH,
            openid_connect_providers: OPENID_CONNECT_PROVIDERS,
        }
    }
}

/// A policy's size as IAM counts it against its quotas: the characters of the document
/// as stsform sends it (compact JSON), white space not counted.
pub fn policy_size(document: &Value) -> usize {
    document
        .to_string()
        .chars()
        .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
        .count()
}

/// `10240` → `10,240`: limits read as people write them.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first character IAM does not allow in a policy document: only tab, line feed,
/// carriage return and U+0020 to U+00FF are.
pub fn disallowed_character(s: &str) -> Option<char> {
    s.chars()
        .find(|c| !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{ff}'))
}

/// The problem with a string that goes into a policy document, if any.
pub fn check_policy_text(s: &str) -> Result<(), String> {
    match disallowed_character(s) {
        None => Ok(()),
        Some(c) => Err(format!(
            "`{}` holds {} (U+{:04X}); IAM policy documents allow only tab, line feed, carriage return and the characters U+0020 to U+00FF",
            s.escape_debug(),
            describe(c),
            c as u32
        )),
    }
}

fn describe(c: char) -> String {
    if c.is_control() {
        "a control character".to_string()
    } else {
        format!("`{c}`")
    }
}

/// Role names: letters, digits and `+=,.@_-`.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// A role name IAM accepts: 1 to 64 characters, letters, digits and `+=,.@_-`. (Roles
/// are made at path `/`, as ccoctl makes them, and their inline policy is named like the
/// role, which IAM's 128-character policy names always hold.)
pub fn check_role_name(name: &str) -> Result<(), String> {
    let length = name.chars().count();
    if length == 0 || length > ROLE_NAME_LENGTH {
        return Err(format!(
            "role name `{name}` is {length} characters; IAM allows 1 to {ROLE_NAME_LENGTH}"
        ));
    }
    match name.chars().find(|c| !is_name_char(*c)) {
        Some(c) => Err(format!(
            "role name `{name}` holds `{c}`; IAM allows letters, digits and `+=,.@_-`"
        )),
        None => Ok(()),
    }
}

/// Checks quotas read from `[quotas]` in a settings file: never below IAM's defaults
/// (a quota can only be raised), returning `(field, problem)` pairs.
pub fn check_quotas(quotas: &Quotas) -> Vec<(&'static str, String)> {
    let mut problems = Vec::new();
    if quotas.role_trust_policy_length < TRUST_POLICY_LENGTH {
        problems.push((
            "role_trust_policy_length",
            format!(
                "{} is below IAM's default of {}; set it only when the account's quota was raised",
                thousands(quotas.role_trust_policy_length),
                thousands(TRUST_POLICY_LENGTH)
            ),
        ));
    }
    if quotas.openid_connect_providers < OPENID_CONNECT_PROVIDERS {
        problems.push((
            "openid_connect_providers",
            format!(
                "{} is below IAM's default of {}; set it only when the account's quota was raised",
                thousands(quotas.openid_connect_providers),
                thousands(OPENID_CONNECT_PROVIDERS)
            ),
        ));
    }
    problems
}

/// The problem with a role's inline policy of `size` characters (see [`policy_size`]).
pub fn check_role_policy_size(size: usize) -> Result<(), String> {
    if size <= ROLE_POLICY_SIZE {
        return Ok(());
    }
    Err(format!(
        "the role's inline policy would be {} characters (white space not counted); IAM allows {} for a role's inline policies together and refuses it (LimitExceeded)",
        thousands(size),
        thousands(ROLE_POLICY_SIZE)
    ))
}

/// The problem with a trust policy of `size` characters for `accounts` service accounts,
/// against the account's quota `limit`.
pub fn check_trust_policy_size(size: usize, accounts: usize, limit: usize) -> Result<(), String> {
    if size <= limit {
        return Ok(());
    }
    let raised = if limit == TRUST_POLICY_LENGTH {
        " (IAM's default; if the account's quota was raised in Service Quotas, set `[quotas] role_trust_policy_length` in stsform.toml)"
    } else {
        " (from `[quotas] role_trust_policy_length` in stsform.toml)"
    };
    Err(format!(
        "the role's trust policy would be {} characters (white space not counted) for its {accounts} service account{}; the account's \"Role trust policy length\" quota is {}{raised}",
        thousands(size),
        if accounts == 1 { "" } else { "s" },
        thousands(limit),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn sizes_leave_out_white_space_even_inside_strings() {
        let doc = json!({"Version": "2012-10-17", "Statement": [{"Action": "a b"}]});
        // {"Version":"2012-10-17","Statement":[{"Action":"a b"}]} is 55 characters, one a space.
        assert_eq!(doc.to_string().len(), 55);
        assert_eq!(policy_size(&doc), 54);
        // Escapes count as IAM reads the text sent: `\n` is two characters, not white space.
        assert_eq!(policy_size(&json!("x\ny")), 6);
        // Characters, not bytes.
        assert_eq!(policy_size(&json!("é")), 3);
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(10_240), "10,240");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn declared_quotas_can_only_be_raised() {
        assert!(check_quotas(&Quotas::default()).is_empty());
        let low = Quotas {
            role_trust_policy_length: 1_000,
            openid_connect_providers: 50,
        };
        assert_eq!(
            check_quotas(&low),
            [
                (
                    "role_trust_policy_length",
                    "1,000 is below IAM's default of 2,048; set it only when the account's quota was raised".to_string()
                ),
                (
                    "openid_connect_providers",
                    "50 is below IAM's default of 100; set it only when the account's quota was raised".to_string()
                ),
            ]
        );
    }

    #[test]
    fn the_inline_policy_limit_is_inclusive() {
        assert!(check_role_policy_size(10_240).is_ok());
        assert_eq!(
            check_role_policy_size(10_241).unwrap_err(),
            "the role's inline policy would be 10,241 characters (white space not counted); IAM allows 10,240 for a role's inline policies together and refuses it (LimitExceeded)"
        );
    }

    #[test]
    fn trust_policy_errors_say_how_to_raise_the_quota() {
        assert!(check_trust_policy_size(2_048, 3, 2_048).is_ok());
        assert_eq!(
            check_trust_policy_size(2_049, 1, 2_048).unwrap_err(),
            "the role's trust policy would be 2,049 characters (white space not counted) for its 1 service account; the account's \"Role trust policy length\" quota is 2,048 (IAM's default; if the account's quota was raised in Service Quotas, set `[quotas] role_trust_policy_length` in stsform.toml)"
        );
        assert_eq!(
            check_trust_policy_size(4_100, 40, 4_096).unwrap_err(),
            "the role's trust policy would be 4,100 characters (white space not counted) for its 40 service accounts; the account's \"Role trust policy length\" quota is 4,096 (from `[quotas] role_trust_policy_length` in stsform.toml)"
        );
    }

    #[test]
    fn role_names_follow_iam_rules() {
        assert!(check_role_name("prod-openshift-ingress-operator-cloud-credentials").is_ok());
        assert!(check_role_name(&"a".repeat(64)).is_ok());
        assert!(check_role_name("a+=,.@_-Z9").is_ok());
        assert_eq!(
            check_role_name(&"a".repeat(65)).unwrap_err(),
            format!(
                "role name `{}` is 65 characters; IAM allows 1 to 64",
                "a".repeat(65)
            )
        );
        assert_eq!(
            check_role_name("").unwrap_err(),
            "role name `` is 0 characters; IAM allows 1 to 64"
        );
        assert_eq!(
            check_role_name("a/b").unwrap_err(),
            "role name `a/b` holds `/`; IAM allows letters, digits and `+=,.@_-`"
        );
    }

    #[test]
    fn policy_text_is_latin_1_plus_three_controls() {
        assert!(check_policy_text("tab\there, ÿ and ü").is_ok());
        assert_eq!(
            check_policy_text("région €").unwrap_err(),
            "`région €` holds `€` (U+20AC); IAM policy documents allow only tab, line feed, carriage return and the characters U+0020 to U+00FF"
        );
        assert_eq!(
            check_policy_text("a\u{7}b").unwrap_err(),
            "`a\\u{7}b` holds a control character (U+0007); IAM policy documents allow only tab, line feed, carriage return and the characters U+0020 to U+00FF"
        );
    }
}
