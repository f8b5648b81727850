//! Bad input through the binary: every case exits 1 with a precise message, makes no AWS
//! call (the endpoint is a loopback counting listener that must see zero requests) and
//! writes nothing (the whole scratch directory is byte-for-byte unchanged).
//!
//! Runs as root in CI, so `chmod 000` does not make a file unreadable (root reads through
//! it); the unreadable cases use a UNIX socket and a FIFO at a request's path instead,
//! which stsform refuses as "not a regular file" before opening (so a FIFO cannot hang it).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::binary::{Cluster, assert_no_secrets, text};
use crate::proxy::{FaultPlan, Proxy};

/// Every file (and symlink target text, and dir) under `dir` with its bytes and mode.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(rel, (b"<dir>".to_vec(), mode));
                walk(base, &p, out);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, (target.display().to_string().into_bytes(), mode));
            } else if meta.is_file() {
                out.insert(rel, (std::fs::read(&p).unwrap(), mode));
            } else {
                out.insert(rel, (b"<special>".to_vec(), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// One bad input: how to break a fresh cluster dir, the command, the expected message.
struct Case {
    what: &'static str,
    verb: &'static str,
    extra: Vec<String>,
    arrange: Box<dyn Fn(&Cluster)>,
    message: String,
}

fn case(
    what: &'static str,
    verb: &'static str,
    arrange: impl Fn(&Cluster) + 'static,
    message: impl Into<String>,
) -> Case {
    Case {
        what,
        verb,
        extra: Vec::new(),
        arrange: Box::new(arrange),
        message: message.into(),
    }
}

fn with_flags(mut c: Case, flags: &[&str]) -> Case {
    c.extra = flags.iter().map(|s| s.to_string()).collect();
    c
}

fn write(c: &Cluster, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = c.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A valid request for secret `ns/name`, with `spec` lines appended/replaced by `edit`.
fn request(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata:\n  name: {name}\n  namespace: openshift-cloud-credential-operator\nspec:\n  secretRef:\n    name: {name}\n    namespace: {ns}\n  serviceAccountNames:\n  - sa\n  providerSpec:\n    apiVersion: cloudcredential.openshift.io/v1\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: Allow\n      action:\n      - s3:GetObject\n      resource: \"*\"\n"
    )
}

/// Replaces the first `from` in `creds/<file>` (a copy of examples/cluster) with `to`.
fn edit(c: &Cluster, file: &str, from: &str, to: &str) {
    let path = c.path().join("creds").join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

const EBS: &str = "03_credentials_request_aws.yaml";
const INGRESS: &str = "00-ingress-credentials-request.yaml";
const MACHINE_API: &str = "0000_30_machine-api-operator_00_credentials-request.yaml";
const REGISTRY: &str = "01-registry-credentials-request.yaml";

/// The review's errors: what IAM (or IAM Access Analyzer) refuses, in the real requests of
/// examples/cluster altered one field at a time.
fn review_cases() -> Vec<Case> {
    vec![
        case(
            "an action without a service prefix",
            "apply",
            |c| {
                edit(
                    c,
                    EBS,
                    "      - ec2:AttachVolume\n",
                    "      - AttachVolume\n",
                )
            },
            "creds/03_credentials_request_aws.yaml: document 1: spec.providerSpec.statementEntries[0].action[0]: `AttachVolume` has no service prefix: IAM actions are `service:Action` (`ec2:DescribeInstances`) or `*` (IAM: \"Actions/Conditions must be prefaced by a vendor\")",
        ),
        case(
            "a wildcard in an action's service prefix",
            "plan",
            |c| {
                edit(
                    c,
                    INGRESS,
                    "      - route53:ListHostedZones\n",
                    "      - \"*:ListHostedZones\"\n",
                )
            },
            "creds/00-ingress-credentials-request.yaml: document 1: spec.providerSpec.statementEntries[0].action[1]: `*:ListHostedZones` has a wildcard in its service prefix, which IAM refuses (\"Action vendors must not contain wildcards\"): name the service",
        ),
        case(
            "a resource that is not an ARN",
            "plan",
            |c| {
                edit(
                    c,
                    INGRESS,
                    "      resource: \"*\"\n",
                    "      resource: hostedzone/Z123\n",
                )
            },
            "creds/00-ingress-credentials-request.yaml: document 1: spec.providerSpec.statementEntries[0].resource: `hostedzone/Z123` is not an ARN (`arn:partition:service:region:account:resource`) or `*`; IAM refuses any other resource (MalformedPolicyDocument)",
        ),
        case(
            "a character IAM does not allow in a policy",
            "plan",
            |c| {
                edit(
                    c,
                    INGRESS,
                    "      resource: \"*\"\n",
                    "      resource: \"arn:aws:route53:::hostedzone/Z€\"\n",
                )
            },
            "creds/00-ingress-credentials-request.yaml: document 1: spec.providerSpec.statementEntries[0].resource: `arn:aws:route53:::hostedzone/Z€` holds `€` (U+20AC); IAM policy documents allow only tab, line feed, carriage return and the characters U+0020 to U+00FF",
        ),
        case(
            "a condition operator in the wrong case",
            "apply",
            |c| edit(c, MACHINE_API, "        \"Bool\":\n", "        \"bool\":\n"),
            "creds/0000_30_machine-api-operator_00_credentials-request.yaml: document 1: spec.providerSpec.statementEntries[2].policyCondition.bool: `bool` is not an IAM condition operator (did you mean `Bool`? operator names are case-sensitive); IAM refuses it (\"Invalid Condition type\")",
        ),
        case(
            "Null with IfExists",
            "plan",
            |c| {
                edit(
                    c,
                    MACHINE_API,
                    "        \"Bool\":\n",
                    "        \"NullIfExists\":\n",
                )
            },
            "creds/0000_30_machine-api-operator_00_credentials-request.yaml: document 1: spec.providerSpec.statementEntries[2].policyCondition.NullIfExists: `NullIfExists`: `Null` cannot take `IfExists` (it already tests whether the key is present)",
        ),
        case(
            "a condition value of the wrong type",
            "plan",
            |c| {
                edit(
                    c,
                    MACHINE_API,
                    "\"kms:GrantIsForAWSResource\": true",
                    "\"kms:GrantIsForAWSResource\": sometimes",
                )
            },
            "creds/0000_30_machine-api-operator_00_credentials-request.yaml: document 1: spec.providerSpec.statementEntries[2].policyCondition.Bool.kms:GrantIsForAWSResource: `sometimes` is not a value `Bool` can compare: it takes `true` or `false` (the condition would never match)",
        ),
        case(
            "a set qualifier in the wrong case",
            "plan",
            |c| {
                edit(
                    c,
                    MACHINE_API,
                    "        \"Bool\":\n",
                    "        \"forallvalues:Bool\":\n",
                )
            },
            "creds/0000_30_machine-api-operator_00_credentials-request.yaml: document 1: spec.providerSpec.statementEntries[2].policyCondition.forallvalues:Bool: `forallvalues:Bool`: `forallvalues` is not a set qualifier (did you mean `ForAllValues`?); IAM knows `ForAllValues:` and `ForAnyValue:`",
        ),
        case(
            "a condition key given twice in another case",
            "apply",
            |c| {
                edit(
                    c,
                    EBS,
                    "          \"kms:GrantIsForAWSResource\": true\n",
                    "          \"kms:GrantIsForAWSResource\": true\n          \"KMS:grantIsForAWSResource\": false\n",
                )
            },
            "creds/03_credentials_request_aws.yaml: document 1: spec.providerSpec.statementEntries[2].policyCondition.Bool.KMS:grantIsForAWSResource: `KMS:grantIsForAWSResource` is the key `kms:GrantIsForAWSResource` again (condition key names are not case-sensitive); give it once",
        ),
        case(
            "a Secret namespace Kubernetes would reject",
            "plan",
            |c| {
                edit(
                    c,
                    INGRESS,
                    "    namespace: openshift-ingress-operator\n",
                    "    namespace: openshift.ingress-operator\n",
                )
            },
            "creds/00-ingress-credentials-request.yaml: document 1: spec.secretRef.namespace: `openshift.ingress-operator` is not a valid Kubernetes name (a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)",
        ),
        with_flags(
            case(
                "more user tags than AWS allows beside the ownership tags",
                "plan",
                |_| {},
                "--user-tags: 49 user tags (`[tags]` and `--user-tags` together); at most 48: AWS allows 50 per resource and stsform adds 2 ownership tags",
            ),
            &[
                "--user-tags",
                &(0..49)
                    .map(|i| format!("team-{i}=platform"))
                    .collect::<Vec<_>>()
                    .join(","),
            ],
        ),
        case(
            "a condition key without a service prefix",
            "plan",
            |c| {
                edit(
                    c,
                    EBS,
                    "\"kms:GrantIsForAWSResource\"",
                    "\"GrantIsForAWSResource\"",
                )
            },
            "creds/03_credentials_request_aws.yaml: document 1: spec.providerSpec.statementEntries[2].policyCondition.Bool.GrantIsForAWSResource: condition key `GrantIsForAWSResource` has no service prefix: keys are `service:name` (`aws:SourceIp`) (IAM: \"Actions/Conditions must be prefaced by a vendor\")",
        ),
        case(
            "an inline policy over IAM's 10,240 characters",
            "apply",
            |c| {
                let many: String = (0..300)
                    .map(|i| format!("      - ec2:DescribeSomethingRatherLong{i:03}\n"))
                    .collect();
                edit(
                    c,
                    EBS,
                    "      - ec2:AttachVolume\n",
                    &format!("      - ec2:AttachVolume\n{many}"),
                )
            },
            "characters (white space not counted); IAM allows 10,240 for a role's inline policies together and refuses it (LimitExceeded)",
        ),
        case(
            "a trust policy over the account's quota",
            "plan",
            |c| {
                let many: String = (0..40)
                    .map(|i| format!("  - registry-worker-sa-{i:02}\n"))
                    .collect();
                edit(
                    c,
                    REGISTRY,
                    "  - registry\n",
                    &format!("  - registry\n{many}"),
                )
            },
            "creds/01-registry-credentials-request.yaml: document 1: spec.serviceAccountNames: the role's trust policy would be ",
        ),
        with_flags(
            case(
                "a quota declared below IAM's default",
                "plan",
                |c| write(c, "q.toml", "[quotas]\nrole_trust_policy_length = 1000\n"),
                "q.toml: quotas.role_trust_policy_length: 1,000 is below IAM's default of 2,048; set it only when the account's quota was raised",
            ),
            &["--config", "q.toml"],
        ),
        with_flags(
            case(
                "an acknowledgement of an unknown check",
                "plan",
                |c| {
                    write(
                        c,
                        "a.toml",
                        "[[acknowledge]]\nrequest = \"openshift-machine-api/aws-cloud-credentials\"\ncheck = \"passrole\"\n",
                    )
                },
                "a.toml: acknowledge[0].check: unknown check `passrole` (one of: action-wildcard, service-wildcard, passrole-on-any-resource)",
            ),
            &["--config", "a.toml"],
        ),
        with_flags(
            case(
                "an acknowledgement that names no request",
                "apply",
                |c| {
                    write(
                        c,
                        "a.toml",
                        "[[acknowledge]]\nrequest = \"machine-api\"\ncheck = \"passrole-on-any-resource\"\n",
                    )
                },
                "a.toml: acknowledge[0].request: `machine-api` is not a request: name it by its Secret, `namespace/name` (its `spec.secretRef`)",
            ),
            &["--config", "a.toml"],
        ),
    ]
}

fn state_text(cluster: &str, version: i64) -> String {
    format!(
        "version = {version}\nserial = 3\nlineage = \"7d1b1f8e-8a43-4b4b-9d0e-5f7a1c2b3d4e\"\ncluster = \"{cluster}\"\n"
    )
}

fn cases(name: &str) -> Vec<Case> {
    let state = format!("state/{name}.toml");
    let n = name.to_string();
    let st = state.clone();
    let put_state = move |text: String| {
        let st = st.clone();
        move |c: &Cluster| write(c, &st, &text)
    };
    vec![
        // CredentialsRequest files.
        case(
            "YAML syntax error",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    "kind: CredentialsRequest\nspec: [unclosed\n",
                )
            },
            "creds/zz.yaml: document 1: line 2, column 7: unclosed bracket '['",
        ),
        case(
            "tab-indented YAML",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    "kind: CredentialsRequest\nspec:\n\tsecretRef: x\n",
                )
            },
            "creds/zz.yaml: document 1: line 3",
        ),
        case(
            "JSON syntax error",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    "{\"kind\": \"CredentialsRequest\", \"spec\": }",
                )
            },
            "creds/zz.yaml: document 1: line 1, column 40: expected value",
        ),
        case(
            "serviceAccountNames is a number",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace(
                        "  serviceAccountNames:\n  - sa\n",
                        "  serviceAccountNames: 5\n",
                    ),
                )
            },
            "creds/zz.yaml: document 1: spec.serviceAccountNames: expected a list of strings, found a number",
        ),
        case(
            "secretRef is a string",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace(
                        "  secretRef:\n    name: x\n    namespace: ns-a\n",
                        "  secretRef: ns-a/x\n",
                    ),
                )
            },
            "creds/zz.yaml: document 1: spec.secretRef: expected a mapping, found a string",
        ),
        case(
            "secretRef missing",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x")
                        .replace("  secretRef:\n    name: x\n    namespace: ns-a\n", ""),
                )
            },
            "creds/zz.yaml: document 1: spec.secretRef: missing",
        ),
        case(
            "secretRef namespace missing",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("    namespace: ns-a\n", ""),
                )
            },
            "creds/zz.yaml: document 1: spec.secretRef.namespace: missing",
        ),
        case(
            "statementEntries empty",
            "apply",
            |c| {
                let text = request("ns-a", "x");
                let cut = text.find("    statementEntries:").unwrap();
                write(
                    c,
                    "creds/zz.yaml",
                    format!("{}    statementEntries: []\n", &text[..cut]),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries: must not be empty",
        ),
        case(
            "effect is neither Allow nor Deny",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("effect: Allow", "effect: Maybe"),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries[0].effect: expected `Allow` or `Deny`, found `Maybe`",
        ),
        case(
            "action is a mapping",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace(
                        "      action:\n      - s3:GetObject\n",
                        "      action: {s3: GetObject}\n",
                    ),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries[0].action: expected a list of strings, found a mapping",
        ),
        case(
            "resource missing",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("      resource: \"*\"\n", ""),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries[0].resource: missing",
        ),
        case(
            "invalid secret name",
            "apply",
            |c| write(c, "creds/zz.yaml", request("ns-a", "Bad_Name")),
            "creds/zz.yaml: document 1: spec.secretRef.name: `Bad_Name` is not a valid Kubernetes name",
        ),
        case(
            "invalid service account name",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("  - sa\n", "  - -sa-\n"),
                )
            },
            "creds/zz.yaml: document 1: spec.serviceAccountNames[0]: `-sa-` is not a valid Kubernetes name",
        ),
        case(
            "two requests for one Secret",
            "apply",
            |c| {
                let ingress = std::fs::read_to_string(
                    c.path().join("creds/00-ingress-credentials-request.yaml"),
                )
                .unwrap();
                write(c, "creds/zz-dup.yaml", ingress)
            },
            "creds/zz-dup.yaml: document 1: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by creds/00-ingress-credentials-request.yaml: document 1",
        ),
        case(
            "role names that collide once cut to 64 bytes",
            "apply",
            |c| {
                let ns = "openshift-a-very-long-namespace-name-for-testing";
                write(c, "creds/zz-1.yaml", request(ns, "credentials-one"));
                write(c, "creds/zz-2.yaml", request(ns, "credentials-two"));
            },
            "collides with the request in creds/zz-1.yaml: document 1",
        ),
        case(
            "a bad second document",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    format!(
                        "{}---\nkind: CredentialsRequest\nspec: 7\n",
                        request("ns-a", "x")
                    ),
                )
            },
            "creds/zz.yaml: document 2: spec: expected a mapping, found a number",
        ),
        case(
            "file over 4 MiB",
            "apply",
            |c| {
                let mut text = request("ns-a", "x");
                text.push_str(&format!("# {}\n", "x".repeat(5 * 1024 * 1024)));
                write(c, "creds/zz.yaml", text)
            },
            "creds/zz.yaml: file is larger than 4 MiB (",
        ),
        case(
            "not UTF-8",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    b"kind: CredentialsRequest\nspec:\n  x: \xff\xfe\n",
                )
            },
            "creds/zz.yaml: not valid UTF-8 (invalid byte at line 3, column 6)",
        ),
        case(
            "symlink loop",
            "apply",
            |c| std::os::unix::fs::symlink("zz.yaml", c.path().join("creds/zz.yaml")).unwrap(),
            "creds/zz.yaml: cannot follow symlink:",
        ),
        case(
            "dangling symlink",
            "apply",
            |c| std::os::unix::fs::symlink("nowhere.yaml", c.path().join("creds/zz.yaml")).unwrap(),
            "creds/zz.yaml: cannot follow symlink:",
        ),
        case(
            "unreadable file (a socket, which even root cannot read)",
            "apply",
            |c| {
                let l =
                    std::os::unix::net::UnixListener::bind(c.path().join("creds/zz.yaml")).unwrap();
                drop(l);
            },
            "creds/zz.yaml: not a regular file",
        ),
        case(
            "a FIFO (reading it would block forever)",
            "apply",
            |c| {
                let p = c.path().join("creds/zz.yaml");
                let ok = std::process::Command::new("mkfifo")
                    .arg(&p)
                    .status()
                    .unwrap();
                assert!(ok.success());
            },
            "creds/zz.yaml: not a regular file",
        ),
        case(
            "requests dir is a file",
            "apply",
            |c| write(c, "notadir", "x"),
            "notadir: not a directory",
        ),
        // Settings.
        with_flags(
            case(
                "uppercase cluster name",
                "apply",
                |_| {},
                "--name: `Prod_East` contains `P`",
            ),
            &["--name", "Prod_East"],
        ),
        with_flags(
            case(
                "cluster name too long",
                "apply",
                |_| {},
                "would exceed S3's 63 (use at most 58)",
            ),
            &["--name", &"a".repeat(59)],
        ),
        with_flags(
            case(
                "unknown region",
                "apply",
                |_| {},
                "--region: unknown region `us-east-9`",
            ),
            &["--region", "us-east-9"],
        ),
        with_flags(
            case(
                "boundary in another partition",
                "apply",
                |_| {},
                "--permissions-boundary-arn: `arn:aws-cn:iam::123456789012:policy/b` is in partition `aws-cn`, but the region is in `aws`",
            ),
            &[
                "--permissions-boundary-arn",
                "arn:aws-cn:iam::123456789012:policy/b",
            ],
        ),
        with_flags(
            case(
                "identity provider ARN of a role",
                "apply",
                |_| {},
                "--identity-provider-arn: `arn:aws:iam::123456789012:role/x` is not of the form",
            ),
            &[
                "--identity-provider-arn",
                "arn:aws:iam::123456789012:role/x",
            ],
        ),
        with_flags(
            case(
                "config with a misspelt key",
                "apply",
                |c| write(c, "bad.toml", "regon = \"us-east-1\"\n"),
                "bad.toml: line 1, column 1: unknown field `regon`",
            ),
            &["--config", "bad.toml"],
        ),
        with_flags(
            case(
                "config that is not TOML",
                "apply",
                |c| write(c, "bad.toml", "name = \n"),
                "bad.toml: line 1, column 8",
            ),
            &["--config", "bad.toml"],
        ),
        with_flags(
            case(
                "reserved tag key",
                "apply",
                |c| write(c, "tags.toml", "[tags]\n\"aws:x\" = \"y\"\n"),
                "tags.toml: tags.aws:x: tag keys starting with `aws:` are reserved by AWS",
            ),
            &["--config", "tags.toml"],
        ),
        with_flags(
            case(
                "missing public key file",
                "apply",
                |_| {},
                "nope.pem: cannot read the public key",
            ),
            &["--public-key-file", "nope.pem"],
        ),
        // Keys in the output dir.
        case(
            "corrupt private key",
            "apply",
            |c| {
                write(
                    c,
                    "install/serviceaccount-signer.private",
                    "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                )
            },
            "install/serviceaccount-signer.private",
        ),
        case(
            "public key without its private half",
            "apply",
            |c| {
                std::fs::remove_file(c.path().join("install/serviceaccount-signer.private"))
                    .unwrap()
            },
            "install/serviceaccount-signer.private",
        ),
        case(
            "key pair halves that do not match",
            "apply",
            |c| {
                let other =
                    crate::derive::root().join("tests/fixtures/keys/ccoctl-test.public.pem");
                std::fs::copy(other, c.path().join("install/serviceaccount-signer.public"))
                    .unwrap();
            },
            "install/serviceaccount-signer.public",
        ),
        // State files.
        case(
            "state that is not TOML",
            "apply",
            put_state("version = 1\nserial = \n".into()),
            format!("{state}: line 2, column 10"),
        ),
        case(
            "state from a newer stsform",
            "apply",
            put_state(state_text(&n, 9)),
            format!(
                "{state}: state version 9 was written by a newer stsform; this build reads up to version 3"
            ),
        ),
        case(
            "state of another cluster",
            "apply",
            put_state(state_text("other-cluster", 1)),
            format!(
                "{state}: this state belongs to cluster `other-cluster`, not `{n}`; check --state and --name"
            ),
        ),
        case(
            "state with an unknown field",
            "destroy",
            put_state(format!("{}colour = \"blue\"\n", state_text(&n, 1))),
            format!("{state}: line 5, column 1: unknown field `colour`"),
        ),
        case(
            "state whose kind disagrees with its id",
            "destroy",
            put_state(format!(
                "{}\n[[resources]]\nid = \"iam_role.x\"\nkind = \"s3_bucket\"\nattributes = {{ name = \"x\" }}\n",
                state_text(&n, 1)
            )),
            format!(
                "{state}: resources[0] (iam_role.x): kind: `s3_bucket` does not match the id's kind `iam_role`"
            ),
        ),
        case(
            "state that is not UTF-8",
            "plan",
            {
                let st = state.clone();
                move |c: &Cluster| write(c, &st, b"version = 1\n# \xff\n")
            },
            state.clone(),
        ),
        case(
            "state with version 0",
            "plan",
            put_state(state_text(&n, 0)),
            format!("{state}: version: unsupported version 0"),
        ),
    ]
}

#[test]
fn bad_input_is_refused_precisely_without_aws_calls_or_writes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // No upstream: it counts every request and answers 500.
    let listener = rt.block_on(Proxy::start(
        None,
        std::time::Duration::ZERO,
        FaultPlan::none(),
    ));
    let name = "bad-input";
    let mut all = cases(name);
    all.extend(review_cases());
    assert!(all.len() >= 55, "{} cases", all.len());
    let mut failures = Vec::new();
    for case in &all {
        let c = Cluster::new(name);
        // A lock file left by an earlier run, so the state cases' lock changes no bytes.
        write(&c, &format!("state/{name}.toml.lock"), "");
        (case.arrange)(&c);
        let mut args = c.args(case.verb);
        for pair in case.extra.chunks(2) {
            match args.iter().position(|a| *a == pair[0]) {
                Some(i) => args[i + 1] = pair[1].clone(),
                None => args.extend(pair.iter().cloned()),
            }
        }
        if case.what == "requests dir is a file" {
            let i = args.iter().position(|a| a == "creds").unwrap();
            args[i] = "notadir".into();
        }
        let before = tree(c.path());
        let calls_before = listener.counts().requests;
        let o = c.run(&listener.url(), &args);
        let err = String::from_utf8_lossy(&o.stderr);
        let problems = [
            (o.status.code() != Some(1)).then(|| "exit code is not 1".to_string()),
            (!err.contains(&case.message)).then(|| format!("expected `{}`", case.message)),
            (listener.counts().requests != calls_before).then(|| "made AWS calls".to_string()),
            (tree(c.path()) != before).then(|| "changed files".to_string()),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n{}",
                case.what,
                problems.join("; "),
                text(&o)
            ));
        }
        assert_no_secrets(c.path(), &[&o]);
    }
    assert_eq!(listener.counts().requests, 0);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
