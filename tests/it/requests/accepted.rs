//! Requests that load: the real fixtures, ccoctl's test data and the examples, and the
//! rules that keep or skip a document exactly as ccoctl does.

use super::*;
use stsform::credentials_request::{IgnoredFile, Skipped, Source, StatementEntry};

#[test]
fn ingress_keeps_aws_and_skips_other_clouds() {
    let (dir, loaded) = load_fixture("openshift/00-ingress-credentials-request.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let request = only_request(&loaded);
    assert_eq!(request.name, "openshift-ingress");
    assert_eq!(
        request.secret_ref,
        secret("openshift-ingress-operator", "cloud-credentials")
    );
    assert_eq!(request.service_account_names, ["ingress-operator"]);
    assert_eq!(request.statements.len(), 1);
    assert_eq!(request.statements[0].effect, "Allow");
    assert_eq!(request.statements[0].action.len(), 6);
    assert_eq!(request.statements[0].resource, "*");
    assert_eq!(request.statements[0].policy_condition, None);
    assert_eq!(
        rel(&dir, &request.source.to_string()),
        "00-ingress-credentials-request.yaml: document 1"
    );
    assert_eq!(
        notes(&dir, &loaded),
        [
            "00-ingress-credentials-request.yaml: document 2: skipped: providerSpec kind is `AzureProviderSpec`, not `AWSProviderSpec`",
            "00-ingress-credentials-request.yaml: document 3: skipped: providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
            "00-ingress-credentials-request.yaml: document 4: skipped: providerSpec kind is `IBMCloudProviderSpec`, not `AWSProviderSpec`",
            "00-ingress-credentials-request.yaml: document 5: skipped: providerSpec kind is `IBMCloudPowerVSProviderSpec`, not `AWSProviderSpec`",
        ]
    );
}

#[test]
fn machine_api_has_one_aws_document_of_eight() {
    let (dir, loaded) = load_fixture(
        "openshift/0000_30_machine-api-operator_00_credentials-request.yaml",
        DEFAULT,
    );
    let loaded = loaded.unwrap();
    let request = only_request(&loaded);
    assert_eq!(
        request.secret_ref,
        secret("openshift-machine-api", "aws-cloud-credentials")
    );
    assert_eq!(request.service_account_names, ["machine-api-controllers"]);
    assert_eq!(request.statements.len(), 3);
    assert_eq!(request.statements[1].policy_condition, None);
    assert_eq!(request.statements[2].policy_condition, kms_condition());
    let f = "0000_30_machine-api-operator_00_credentials-request.yaml";
    let expected: Vec<String> = [
        (2, "AzureProviderSpec"),
        (3, "OpenStackProviderSpec"),
        (4, "GCPProviderSpec"),
        (5, "VSphereProviderSpec"),
        (6, "IBMCloudProviderSpec"),
        (7, "IBMCloudPowerVSProviderSpec"),
        (8, "NutanixProviderSpec"),
    ]
    .iter()
    .map(|(n, kind)| {
        format!("{f}: document {n}: skipped: providerSpec kind is `{kind}`, not `AWSProviderSpec`")
    })
    .collect();
    assert_eq!(notes(&dir, &loaded), expected);
}

#[test]
fn cluster_api_aws_document_is_feature_gated_and_kept_as_ccoctl_keeps_it() {
    let f = "0000_30_cluster-api_01_credentials-request.yaml";
    let expected_others: Vec<String> = [
        (2, "AzureProviderSpec"),
        (3, "GCPProviderSpec"),
        (4, "OpenStackProviderSpec"),
        (5, "IBMCloudPowerVSProviderSpec"),
        (6, "VSphereProviderSpec"),
    ]
    .iter()
    .map(|(n, kind)| {
        format!("{f}: document {n}: skipped: providerSpec kind is `{kind}`, not `AWSProviderSpec`")
    })
    .collect();

    // With and without --enable-tech-preview: the gate is not a feature set.
    for opts in [DEFAULT, TP] {
        let (dir, loaded) = load_fixture(&format!("openshift/{f}"), opts);
        let loaded = loaded.unwrap();
        let request = only_request(&loaded);
        assert_eq!(request.source.document, 1);
        assert_eq!(
            request.secret_ref,
            secret(
                "openshift-cluster-api",
                "capa-manager-bootstrap-credentials"
            )
        );
        assert_eq!(request.service_account_names, ["capa-controller-manager"]);
        assert_eq!(request.statements.len(), 3);
        assert_eq!(request.statements[2].policy_condition, kms_condition());
        assert_eq!(
            request.feature_gate.as_deref(),
            Some("ClusterAPIMachineManagement,ClusterAPIMachineManagementAWS")
        );
        assert_eq!(notes(&dir, &loaded), expected_others);
    }
}

#[test]
fn registry_iam_ro_and_ebs_load() {
    let (_dir, loaded) = load_fixture("openshift/01-registry-credentials-request.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(
        r.secret_ref,
        secret("openshift-image-registry", "installer-cloud-credentials")
    );
    assert_eq!((r.service_account_names.len(), r.statements.len()), (2, 1));
    assert!(loaded.skipped.is_empty());

    let (_dir, loaded) = load_fixture("openshift/05-iam-ro-credentialsrequest.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(r.name, "cloud-credential-operator-iam-ro");
    assert_eq!(
        r.secret_ref,
        secret(
            "openshift-cloud-credential-operator",
            "cloud-credential-operator-iam-ro-creds"
        )
    );
    assert_eq!(r.service_account_names, ["cloud-credential-operator"]);
    assert_eq!(
        r.statements[0].action,
        ["iam:GetUser", "iam:GetUserPolicy", "iam:ListAccessKeys"]
    );

    let (_dir, loaded) = load_fixture("openshift/03_credentials_request_aws.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(
        r.secret_ref,
        secret("openshift-cluster-csi-drivers", "ebs-cloud-credentials")
    );
    assert_eq!((r.service_account_names.len(), r.statements.len()), (2, 3));
    assert_eq!(r.statements[0].policy_condition, None);
    assert_eq!(r.statements[2].policy_condition, kms_condition());
    // A YAML boolean stays a JSON boolean (not the string "true").
    let condition = r.statements[2].policy_condition.as_ref().unwrap();
    assert_eq!(
        condition["Bool"]["kms:GrantIsForAWSResource"],
        Value::Bool(true)
    );
    assert!(
        r.statements[1]
            .action
            .contains(&"kms:ReEncrypt*".to_string())
    );
}

#[test]
fn cncc_aws_is_second_document_after_a_comment_block() {
    let (dir, loaded) = load_fixture("openshift/02-cncc-credentials.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(r.source.document, 2);
    assert_eq!(
        r.secret_ref,
        secret(
            "openshift-cloud-network-config-controller",
            "cloud-credentials"
        )
    );
    assert_eq!((r.service_account_names.len(), r.statements.len()), (1, 1));
    assert_eq!(
        notes(&dir, &loaded),
        [
            "02-cncc-credentials.yaml: document 1: skipped: providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
            "02-cncc-credentials.yaml: document 3: skipped: providerSpec kind is `AzureProviderSpec`, not `AWSProviderSpec`",
            "02-cncc-credentials.yaml: document 4: skipped: providerSpec kind is `OpenStackProviderSpec`, not `AWSProviderSpec`",
        ]
    );
}

#[test]
fn olm_operator_requests_load_with_string_conditions() {
    let (_dir, loaded) = load_fixture("openshift/controller-credentials-request.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(
        r.secret_ref,
        secret(
            "aws-load-balancer-operator",
            "aws-load-balancer-controller-cluster"
        )
    );
    assert_eq!(r.statements.len(), 23);
    assert_eq!(
        r.statements[5].policy_condition,
        Some(
            json!({
                "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"},
                "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}
            })
            .as_object()
            .unwrap()
            .clone()
        )
    );
    assert_eq!(r.statements[5].resource, "arn:aws:ec2:*:*:security-group/*");
    assert_eq!(
        r.statements[17].policy_condition.as_ref().unwrap()["StringEquals"],
        json!({"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]})
    );

    let (_dir, loaded) = load_fixture("openshift/operator-credentials-request.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(
        r.secret_ref,
        secret("aws-load-balancer-operator", "aws-load-balancer-operator")
    );
    assert_eq!(r.statements[1].resource, "arn:aws:ec2:*:*:subnet/*");

    let (_dir, loaded) = load_fixture("openshift/credentialsrequest_aws.yaml", DEFAULT);
    let loaded = loaded.unwrap();
    let r = only_request(&loaded);
    assert_eq!(r.secret_ref, secret("cert-manager", "aws-creds"));
    assert_eq!(r.statements.len(), 3);
    assert_eq!(r.statements[0].resource, "arn:aws:route53:::change/*");
}

#[test]
fn ccoctl_test_data() {
    // ccoctl's own test request uses camelCase names, which Kubernetes would refuse for a
    // Secret or ServiceAccount; we reject it rather than plan a Secret that cannot exist.
    let f = "create-iam-roles_test.credReqTemplate.firstcredreq.yaml";
    let (dir, result) = load_fixture(&format!("ccoctl-testdata/{f}"), DEFAULT);
    let subdomain = "(a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', \
                         each part starting and ending with a letter or digit)";
    assert_eq!(
        error_lines(&dir, &result.unwrap_err()),
        [
            format!(
                "{f}: document 1: spec.secretRef.name: `secretName1` is not a valid Kubernetes name {subdomain}"
            ),
            format!(
                "{f}: document 1: spec.serviceAccountNames[0]: `testServiceAccount1` is not a valid Kubernetes name {subdomain}"
            ),
            format!(
                "{f}: document 1: spec.serviceAccountNames[1]: `testServiceAccount2` is not a valid Kubernetes name {subdomain}"
            ),
        ]
    );
    // The same request with Kubernetes-valid names loads; the file starts with `---` and
    // its request is still document 1.
    let text = fs::read_to_string(fixtures().join("ccoctl-testdata").join(f))
        .unwrap()
        .replace("secretName1", "secret-name1")
        .replace("testServiceAccount", "test-service-account");
    let dir = dir_with(&[(f, text.as_bytes())]);
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    let r = only_request(&loaded);
    assert_eq!(r.name, "firstcredreq");
    assert_eq!(r.source.document, 1);
    assert_eq!(r.secret_ref, secret("namespace1", "secret-name1"));
    assert_eq!(
        r.service_account_names,
        ["test-service-account1", "test-service-account2"]
    );
    assert_eq!(r.statements.len(), 2);

    let cases = [
        (
            "create-iam-roles_test.credReqMarkedForDeletionTemplate.yaml",
            "marked for deletion (annotation `release.openshift.io/delete: \"true\"`)",
        ),
        (
            "credentials_request.yaml",
            "kind is `Template`, not `CredentialsRequest`",
        ),
        (
            "05-gcp-ro-credentialsrequest.yaml",
            "providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
        ),
    ];
    for (file, reason) in cases {
        let (dir, loaded) = load_fixture(&format!("ccoctl-testdata/{file}"), TP);
        let loaded = loaded.unwrap();
        assert!(loaded.requests.is_empty());
        assert_eq!(
            notes(&dir, &loaded),
            [format!("{file}: document 1: skipped: {reason}")]
        );
    }
}

#[test]
fn examples_load() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let secrets = |loaded: &Loaded| -> Vec<String> {
        loaded
            .requests
            .iter()
            .map(|r| format!("{}/{}", r.secret_ref.namespace, r.secret_ref.name))
            .collect()
    };
    // File name order: `00-ingress` < `0000_30_cluster-api` < `0000_30_machine-api`. The
    // feature-gated cluster-api request is kept, with or without tech preview.
    let expected = vec![
        "openshift-ingress-operator/cloud-credentials",
        "openshift-cluster-api/capa-manager-bootstrap-credentials",
        "openshift-machine-api/aws-cloud-credentials",
        "openshift-image-registry/installer-cloud-credentials",
        "openshift-cloud-network-config-controller/cloud-credentials",
        "openshift-cluster-csi-drivers/ebs-cloud-credentials",
        "openshift-cloud-credential-operator/cloud-credential-operator-iam-ro-creds",
    ];
    let loaded = load(&root.join("cluster"), &DEFAULT).unwrap();
    assert_eq!(secrets(&loaded), expected);
    let loaded = load(&root.join("cluster"), &TP).unwrap();
    assert_eq!(secrets(&loaded), expected);

    let loaded = load(&root.join("day2"), &DEFAULT).unwrap();
    let r = only_request(&loaded);
    assert_eq!(r.name, "s3-access");
    assert_eq!(r.secret_ref, secret("default", "s3-access-secret"));
    assert_eq!(r.service_account_names, ["default"]);
    assert_eq!(
        r.statements,
        [StatementEntry {
            effect: "Allow".into(),
            action: vec!["s3:ListAllMyBuckets".into()],
            resource: "*".into(),
            policy_condition: None,
        }]
    );
    assert!(loaded.skipped.is_empty());
}

#[test]
fn other_files_and_subdirectories_are_ignored_and_symlinks_followed() {
    let elsewhere = dir_with(&[("target.yaml", BASE.as_bytes())]);
    let dir = dir_with(&[
        ("README", b"not yaml: [".as_slice()),
        ("notes.txt", b"\xff\xfe"),
        ("a.yaml.bak", b"{"),
        ("sub/b.yaml", BASE.as_bytes()),
    ]);
    fs::create_dir(dir.path().join("dir.yaml")).unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path().join("target.yaml"),
        dir.path().join("link.yaml"),
    )
    .unwrap();
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    let r = only_request(&loaded);
    assert_eq!(rel(&dir, &r.source.file), "link.yaml");
    assert!(loaded.skipped.is_empty());
}

#[test]
fn json_streams_hold_one_or_more_requests_and_json_files_are_not_read() {
    let yaml_value: Value = serde_saphyr::from_str(BASE).unwrap();
    let mut second = yaml_value.clone();
    second["spec"]["secretRef"]["name"] = json!("second");
    let text = format!(
        "{yaml_value}\n{}\n",
        serde_json::to_string_pretty(&second).unwrap()
    );
    let dir = dir_with(&[("requests.yaml", text.as_bytes())]);
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    assert_eq!(loaded.requests.len(), 2);
    assert!(loaded.ignored.is_empty());
    assert_eq!(loaded.requests[1].source.document, 2);
    assert_eq!(
        loaded.requests[1].secret_ref,
        secret("openshift-ingress-operator", "second")
    );
    let yaml = dir_with(&[("a.yaml", BASE.as_bytes())]);
    let from_yaml = load(yaml.path(), &DEFAULT).unwrap();
    assert_eq!(
        loaded.requests[0].statements,
        only_request(&from_yaml).statements
    );

    // A `.json` file is not read (ccoctl reads `.yaml`/`.yml` only), even a broken one,
    // and the note says so; `.YAML` is not read either (the suffix is case-sensitive).
    let dir = dir_with(&[
        ("b.json", text.as_bytes()),
        ("c.json", b"{ not json"),
        ("d.YAML", BASE.as_bytes()),
        ("a.yaml", BASE.as_bytes()),
    ]);
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    assert_eq!(rel(&dir, &only_request(&loaded).source.file), "a.yaml");
    let ignored: Vec<String> = loaded
        .ignored
        .iter()
        .map(|i| rel(&dir, &i.note()))
        .collect();
    assert_eq!(
        ignored,
        [
            "b.json: not read: like ccoctl, stsform reads only `.yaml` and `.yml` files (rename it to include it)",
            "c.json: not read: like ccoctl, stsform reads only `.yaml` and `.yml` files (rename it to include it)",
        ]
    );
}

#[test]
fn document_numbers_count_separators_as_users_do() {
    let other = base_with("cloud-credentials", "second");
    let text = format!(
        "# leading comment, not a document\n---\n{BASE}---\n# comment-only document\n---\n---\n{other}...\n---\n"
    );
    let dir = dir_with(&[("a.yaml", text.as_bytes())]);
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    let documents: Vec<usize> = loaded.requests.iter().map(|r| r.source.document).collect();
    assert_eq!(documents, [1, 4]);
    assert!(loaded.skipped.is_empty());

    // A trailing `---` is fine.
    let dir = dir_with(&[("a.yaml", format!("{BASE}---\n").as_bytes())]);
    assert_eq!(load(dir.path(), &DEFAULT).unwrap().requests.len(), 1);
}

#[test]
fn norway_problem_does_not_bite() {
    let yaml = base_with("namespace: openshift-ingress-operator", "namespace: no")
        .replace("name: cloud-credentials", "name: yes")
        .replace("- ingress-operator", "- on");
    let dir = dir_with(&[("a.yaml", yaml.as_bytes())]);
    let r = only_request(&load(dir.path(), &DEFAULT).unwrap()).clone();
    assert_eq!(r.secret_ref, secret("no", "yes"));
    assert_eq!(r.service_account_names, ["on"]);
}

#[test]
fn feature_set_rules_are_ccoctls() {
    let annotated = |key: &str, value: &str, secret: &str| {
        base_with(
            "  namespace: openshift-cloud-credential-operator\n",
            &format!(
                "  namespace: openshift-cloud-credential-operator\n  annotations:\n    {key}: {value}\n"
            ),
        )
        .replace("name: cloud-credentials", &format!("name: {secret}"))
    };
    let set = "release.openshift.io/feature-set";
    let gate = "release.openshift.io/feature-gate";
    let dir = dir_with(&[
        (
            "a.yaml",
            annotated(set, "CustomNoUpgrade,TechPreviewNoUpgrade", "a").as_bytes(),
        ),
        ("b.yaml", annotated(set, "CustomNoUpgrade", "b").as_bytes()),
        (
            "c.yaml",
            annotated(set, "TechPreviewNoUpgrade", "c").as_bytes(),
        ),
        ("d.yaml", annotated(set, "\"\"", "d").as_bytes()),
        ("e.yaml", annotated(gate, "GateA,GateB", "e").as_bytes()),
        (
            "f.yaml",
            annotated("release.openshift.io/delete", "\"false\"", "f").as_bytes(),
        ),
    ]);
    let secrets = |loaded: &Loaded| -> Vec<String> {
        loaded
            .requests
            .iter()
            .map(|r| r.secret_ref.name.clone())
            .collect()
    };
    // Without --enable-tech-preview any feature-set value skips; a feature gate and a
    // delete annotation other than exactly "true" do not.
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    assert_eq!(secrets(&loaded), ["e", "f"]);
    let tp = "(`--enable-tech-preview` includes `TechPreviewNoUpgrade` requests)";
    assert_eq!(
        notes(&dir, &loaded),
        [
            format!(
                "a.yaml: document 1: skipped: annotation `{set}: CustomNoUpgrade,TechPreviewNoUpgrade` puts it in a feature set {tp}"
            ),
            format!(
                "b.yaml: document 1: skipped: annotation `{set}: CustomNoUpgrade` puts it in a feature set {tp}"
            ),
            format!(
                "c.yaml: document 1: skipped: annotation `{set}: TechPreviewNoUpgrade` puts it in a feature set {tp}"
            ),
            format!(
                "d.yaml: document 1: skipped: annotation `{set}: ` puts it in a feature set {tp}"
            ),
        ]
    );
    assert_eq!(
        loaded.requests[0].feature_gate.as_deref(),
        Some("GateA,GateB")
    );
    assert_eq!(
        rel(&dir, &loaded.requests[0].feature_gate_note().unwrap()),
        format!(
            "e.yaml: document 1: feature-gated (`{gate}: GateA,GateB`): included, as ccoctl includes it; its role is used only if the release turns the gate on"
        )
    );
    assert_eq!(loaded.requests[1].feature_gate_note(), None);

    // With it, only the exact value TechPreviewNoUpgrade joins.
    let loaded = load(dir.path(), &TP).unwrap();
    assert_eq!(secrets(&loaded), ["c", "e", "f"]);
    let exact = "is not exactly `TechPreviewNoUpgrade`, the only feature set `--enable-tech-preview` includes";
    assert_eq!(
        notes(&dir, &loaded),
        [
            format!(
                "a.yaml: document 1: skipped: annotation `{set}: CustomNoUpgrade,TechPreviewNoUpgrade` {exact}"
            ),
            format!("b.yaml: document 1: skipped: annotation `{set}: CustomNoUpgrade` {exact}"),
            format!("d.yaml: document 1: skipped: annotation `{set}: ` {exact}"),
        ]
    );
}

#[test]
fn skip_reasons_for_odd_documents() {
    let dir = dir_with(&[(
        "a.yaml",
        b"kind: ConfigMap\n---\napiVersion: v1\n---\nkind: CredentialsRequest\nspec: {}\n---\n\
              kind: CredentialsRequest\nspec:\n  providerSpec: {statementEntries: []}\n"
            .as_slice(),
    )]);
    let loaded = load(dir.path(), &DEFAULT).unwrap();
    assert_eq!(
        notes(&dir, &loaded),
        [
            "a.yaml: document 1: skipped: kind is `ConfigMap`, not `CredentialsRequest`",
            "a.yaml: document 2: skipped: kind is missing, not `CredentialsRequest`",
            "a.yaml: document 3: skipped: spec.providerSpec is missing, so it is not an `AWSProviderSpec` request",
            "a.yaml: document 4: skipped: providerSpec kind is missing, not `AWSProviderSpec`",
        ]
    );
    let skipped = &loaded.skipped[0];
    assert_eq!(
        skipped.note(),
        format!(
            "{}: document 1: skipped: {}",
            skipped.source.file, skipped.reason
        )
    );
}

#[test]
fn deny_effect_and_empty_condition_are_accepted() {
    let yaml = base_with("effect: Allow", "effect: Deny").replace(
        "      resource: \"*\"\n",
        "      resource: \"*\"\n      policyCondition: {}\n",
    );
    let dir = dir_with(&[("a.yml", yaml.as_bytes())]);
    let r = only_request(&load(dir.path(), &DEFAULT).unwrap()).clone();
    assert_eq!(r.statements[0].effect, "Deny");
    assert_eq!(r.statements[0].policy_condition, None);
}

#[test]
fn non_aws_documents_are_summed_up_and_rule_skips_stay_one_per_request() {
    let skipped = |file: &str, document: usize, reason: &str, not_aws: bool| Skipped {
        source: Source {
            file: file.into(),
            document,
        },
        reason: reason.into(),
        not_aws,
    };
    let loaded = Loaded {
        requests: Vec::new(),
        skipped: vec![
            skipped(
                "a.yaml",
                2,
                "providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
                true,
            ),
            skipped(
                "a.yaml",
                3,
                "providerSpec kind is `AzureProviderSpec`, not `AWSProviderSpec`",
                true,
            ),
            skipped("b.yaml", 1, "marked for deletion", false),
            skipped(
                "c.yaml",
                1,
                "kind is `ConfigMap`, not `CredentialsRequest`",
                true,
            ),
        ],
        ignored: vec![IgnoredFile {
            file: "d.json".into(),
        }],
    };
    assert_eq!(
        loaded.notes(false),
        [
            "b.yaml: document 1: skipped: marked for deletion",
            "skipped 3 non-AWS documents in 2 files (--verbose lists them)",
            "d.json: not read: like ccoctl, stsform reads only `.yaml` and `.yml` files (rename it to include it)",
        ]
    );
    assert_eq!(
        loaded.notes(true),
        loaded
            .skipped
            .iter()
            .map(Skipped::note)
            .chain(loaded.ignored.iter().map(IgnoredFile::note))
            .collect::<Vec<_>>()
    );
    let one = Loaded {
        requests: Vec::new(),
        skipped: loaded.skipped[..1].to_vec(),
        ignored: Vec::new(),
    };
    assert_eq!(
        one.notes(false),
        ["skipped 1 non-AWS document in 1 file (--verbose lists them)"]
    );
    // The real examples: every other cloud's request is a non-AWS document; the
    // feature-gated AWS request is kept (as ccoctl keeps it), so nothing else is skipped.
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
    let loaded = load(&examples, &DEFAULT).unwrap();
    assert!(
        loaded.skipped.iter().all(|s| s.not_aws),
        "{:#?}",
        loaded.skipped
    );
    assert!(loaded.requests.iter().any(|r| r.feature_gate.is_some()));
}
