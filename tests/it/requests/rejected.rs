//! Requests that do not load: one clear message per problem, located by file, document
//! and field, every problem of every file reported, and the directory left untouched.

use super::*;
use stsform::credentials_request::MAX_FILE_BYTES;

#[test]
fn efs_controller_request_is_rejected_with_both_problems() {
    let (dir, result) = load_fixture("openshift/credentials.yaml", DEFAULT);
    assert_eq!(
        error_lines(&dir, &result.unwrap_err()),
        [
            "credentials.yaml: document 1: spec.secretRef.namespace: `${NAMESPACE}` is not a valid Kubernetes name (unexpanded template?)",
            "credentials.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)",
        ]
    );
    let (dir, result) = load_fixture("openshift/credentials-node.yaml", DEFAULT);
    assert_eq!(
        error_lines(&dir, &result.unwrap_err()),
        [
            "credentials-node.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)"
        ]
    );
}

#[test]
fn whole_openshift_fixture_folder_reports_both_efs_files() {
    let dir = fixtures().join("openshift");
    let err = load(&dir, &DEFAULT).unwrap_err();
    // Inside the working directory (the crate root here), files are shown relative to it.
    let cwd = std::env::current_dir().unwrap();
    let prefix = format!("{}/", dir.strip_prefix(&cwd).unwrap_or(&dir).display());
    let lines: Vec<String> = err
        .0
        .iter()
        .map(|e| e.to_string().replace(&prefix, ""))
        .collect();
    assert_eq!(
        lines,
        [
            "credentials-node.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)",
            "credentials.yaml: document 1: spec.secretRef.namespace: `${NAMESPACE}` is not a valid Kubernetes name (unexpanded template?)",
            "credentials.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)",
        ]
    );
}

#[test]
fn missing_secret_name() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with("    name: cloud-credentials\n", "").as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.secretRef.name: missing",
    );
}

#[test]
fn empty_secret_namespace() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with("namespace: openshift-ingress-operator", "namespace: \"\"").as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.secretRef.namespace: must not be empty",
    );
}

#[test]
fn missing_service_accounts() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with("  serviceAccountNames:\n  - ingress-operator\n", "").as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames: missing \
             (a role needs at least one service account to trust)",
    );
}

#[test]
fn empty_service_accounts() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with(
                "  serviceAccountNames:\n  - ingress-operator\n",
                "  serviceAccountNames: []\n",
            )
            .as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames: must not be empty \
             (a role needs at least one service account to trust)",
    );
}

#[test]
fn service_accounts_of_wrong_type() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with(
                "  serviceAccountNames:\n  - ingress-operator\n",
                "  serviceAccountNames: 5\n",
            )
            .as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames: expected a list of strings, found a number",
    );
}

#[test]
fn empty_service_account_name() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with("  - ingress-operator\n", "  - ingress-operator\n  - \"\"\n").as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames[1]: must not be empty",
    );
}

#[test]
fn empty_statement_entries() {
    let yaml = format!(
        "{}    statementEntries: []\n",
        &BASE[..BASE.find("    statementEntries:").unwrap()]
    );
    expect_invalid(
        &[("a.yaml", yaml.as_bytes())],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries: must not be empty \
             (an AWS request needs at least one statement)",
    );
}

#[test]
fn empty_action_list() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with(
                "      action:\n      - route53:ListHostedZones\n      - tag:GetResources\n",
                "      action: []\n",
            )
            .as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].action: must not be empty",
    );
}

#[test]
fn empty_action_string() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with(
                "      - tag:GetResources\n",
                "      - tag:GetResources\n      - ''\n",
            )
            .as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].action[2]: must not be empty",
    );
}

#[test]
fn bad_effect() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with("effect: Allow", "effect: allow").as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].effect: \
             expected `Allow` or `Deny`, found `allow`",
    );
}

#[test]
fn missing_resource() {
    expect_invalid(
        &[(
            "a.yaml",
            base_with("      resource: \"*\"\n", "").as_bytes(),
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].resource: missing",
    );
}

#[test]
fn policy_condition_not_a_map_of_maps() {
    let list = base_with(
        "      resource: \"*\"\n",
        "      resource: \"*\"\n      policyCondition: [Bool]\n",
    );
    expect_invalid(
        &[("a.yaml", list.as_bytes())],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].policyCondition: \
             expected a mapping of condition operators to mappings of keys and values, found a list",
    );
    let flat = base_with(
        "      resource: \"*\"\n",
        "      resource: \"*\"\n      policyCondition:\n        Bool: true\n",
    );
    expect_invalid(
        &[("a.yaml", flat.as_bytes())],
        "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].policyCondition.Bool: \
             expected a mapping of condition keys to values, found a boolean",
    );
}

#[test]
fn malformed_yaml_reports_line_and_column_in_the_file() {
    // The broken document is the second one: line numbers count from the file start.
    let yaml =
        format!("{BASE}---\nkind: CredentialsRequest\nspec:\n  secretRef: [a, b\n  other: x\n");
    expect_invalid(
        &[("a.yaml", yaml.as_bytes())],
        "invalid input (1 problem)\n  a.yaml: document 2: line 24, column 14: `[` is never closed (the parser stopped at line 25, column 8: illegal placement of ':' indicator)",
    );
}

#[test]
fn malformed_json_reports_line_and_column() {
    // JSON in a `.yaml` file (ccoctl's decoder sniffs for `{` the same way).
    expect_invalid(
        &[(
            "a.yaml",
            b"{\"kind\": \"CredentialsRequest\",\n  \"spec\": {,}\n}\n",
        )],
        "invalid input (1 problem)\n  a.yaml: document 1: line 2, column 12: key must be a string",
    );
}

#[test]
fn duplicate_secret_refs_name_the_first_request() {
    let second = base_with("name: ingress", "name: ingress-again");
    expect_invalid(
        &[
            ("a.yaml", BASE.as_bytes()),
            ("b.yaml", format!("{BASE}---\n{second}").as_bytes()),
        ],
        "invalid input (2 problems)\n  \
             b.yaml: document 1: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by a.yaml: document 1\n  \
             b.yaml: document 2: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by a.yaml: document 1",
    );
}

#[test]
fn unexpanded_template_in_secret_ref() {
    let yaml = base_with(
        "namespace: openshift-ingress-operator",
        "namespace: ${NAMESPACE}",
    )
    .replace("name: cloud-credentials", "name: \"{{ .Name }}\"");
    expect_invalid(
        &[("a.yaml", yaml.as_bytes())],
        "invalid input (2 problems)\n  \
             a.yaml: document 1: spec.secretRef.namespace: `${NAMESPACE}` is not a valid Kubernetes name (unexpanded template?)\n  \
             a.yaml: document 1: spec.secretRef.name: `{{ .Name }}` is not a valid Kubernetes name (unexpanded template?)",
    );
}

#[test]
fn invalid_kubernetes_names() {
    let yaml = base_with(
        "namespace: openshift-ingress-operator",
        "namespace: openshift.ingress",
    )
    .replace("name: cloud-credentials", "name: Cloud_Credentials");
    expect_invalid(
        &[("a.yaml", yaml.as_bytes())],
        "invalid input (2 problems)\n  \
             a.yaml: document 1: spec.secretRef.namespace: `openshift.ingress` is not a valid Kubernetes name (a DNS-1123 label: \
             at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)\n  \
             a.yaml: document 1: spec.secretRef.name: `Cloud_Credentials` is not a valid Kubernetes name (a DNS-1123 subdomain: \
             at most 253 lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit)",
    );
}

#[test]
fn non_utf8_file() {
    expect_invalid(
        &[(
            "a.yaml",
            b"kind: CredentialsRequest\nmetadata:\n  name: caf\xe9\n",
        )],
        "invalid input (1 problem)\n  a.yaml: not valid UTF-8 (invalid byte at line 3, column 12)",
    );
}

#[test]
fn oversized_file() {
    let big = vec![b'#'; MAX_FILE_BYTES as usize + 1];
    expect_invalid(
        &[("a.yaml", &big)],
        "invalid input (1 problem)\n  a.yaml: file is larger than 4 MiB (4194305 bytes); refusing to read it",
    );
    // Exactly 4 MiB is fine (a comment-only file: no documents).
    let dir = dir_with(&[("a.yaml", &big[1..])]);
    assert_eq!(load(dir.path(), &DEFAULT).unwrap(), Loaded::default());
}

#[test]
fn missing_directory_and_file_as_directory() {
    let dir = dir_with(&[("a.yaml", BASE.as_bytes())]);
    let before = snapshot(dir.path());
    let err = load(&dir.path().join("missing"), &DEFAULT).unwrap_err();
    assert_eq!(
        rel(&dir, &err.to_string()),
        "invalid input (1 problem)\n  missing: does not exist"
    );
    let err = load(&dir.path().join("a.yaml"), &DEFAULT).unwrap_err();
    assert_eq!(
        rel(&dir, &err.to_string()),
        "invalid input (1 problem)\n  a.yaml: not a directory"
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn wrong_types_everywhere() {
    let yaml = "kind: CredentialsRequest\nmetadata:\n  name: 7\nspec:\n  secretRef: x\n  serviceAccountNames: [sa, 3]\n  \
                    providerSpec:\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: 1\n      action: s3:GetObject\n      \
                    resource: [\"*\"]\n    - nope\n";
    expect_invalid(
        &[("a.yaml", yaml.as_bytes())],
        "invalid input (7 problems)\n  \
             a.yaml: document 1: metadata.name: expected a string, found a number\n  \
             a.yaml: document 1: spec.secretRef: expected a mapping, found a string\n  \
             a.yaml: document 1: spec.serviceAccountNames[1]: expected a string, found a number\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[0].effect: expected `Allow` or `Deny`, found a number\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[0].action: expected a list of strings, found a string\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[0].resource: expected a string, found a list\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[1]: expected a mapping, found a string",
    );
}

#[test]
fn every_problem_in_every_file_is_reported() {
    let no_name = base_with("    name: cloud-credentials\n", "");
    let bad_effect =
        base_with("effect: Allow", "effect: Permit").replace("cloud-credentials", "other");
    expect_invalid(
        &[
            ("a.yaml", format!("{no_name}---\n{bad_effect}").as_bytes()),
            ("b.yaml", b"{\"a\": [1, 2"),
            (
                "c.yml",
                b"kind: CredentialsRequest\nspec: {providerSpec: {kind: AWSProviderSpec}}\n",
            ),
            ("d.yaml", b"\xff"),
        ],
        "invalid input (7 problems)\n  \
             a.yaml: document 1: spec.secretRef.name: missing\n  \
             a.yaml: document 2: spec.providerSpec.statementEntries[0].effect: expected `Allow` or `Deny`, found `Permit`\n  \
             b.yaml: document 1: line 1, column 11: EOF while parsing a list\n  \
             c.yml: document 1: spec.secretRef: missing\n  \
             c.yml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)\n  \
             c.yml: document 1: spec.providerSpec.statementEntries: missing (an AWS request needs at least one statement)\n  \
             d.yaml: not valid UTF-8 (invalid byte at line 1, column 1)",
    );
}

#[test]
fn broken_symlink_names_the_file() {
    let dir = dir_with(&[]);
    std::os::unix::fs::symlink("nowhere.yaml", dir.path().join("a.yaml")).unwrap();
    std::os::unix::fs::symlink("loop.yaml", dir.path().join("loop.yaml")).unwrap();
    let before = snapshot(dir.path());
    let err = load(dir.path(), &DEFAULT).unwrap_err();
    let lines = error_lines(&dir, &err);
    assert_eq!(lines[0], "a.yaml: cannot follow symlink: does not exist");
    assert!(
        lines[1].starts_with("loop.yaml: cannot follow symlink: "),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn an_unclosed_bracket_is_reported_where_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nspec:\n  providerSpec:\n    kind: AWSProviderSpec\n    statementEntries:\n    - action: [s3:GetObject\n      effect: Allow\n      resource: \"*\"\n";
    std::fs::write(dir.path().join("a.yaml"), format!("---\n{text}")).unwrap();
    let errors = load(dir.path(), &LoadOptions::default()).unwrap_err().0;
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    // Line 8 (the `---` is line 1), where the `[` is; the parser noticed on line 9.
    assert_eq!(e.field.as_deref(), Some("line 8, column 15"), "{e}");
    assert!(
        e.problem
            .starts_with("`[` is never closed (the parser stopped at line 9, column 13: "),
        "{e}"
    );
}
