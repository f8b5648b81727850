//! derive on the real OpenShift requests in examples/cluster: names, documents, edges.

use std::path::{Path, PathBuf};

use serde_json::json;
use stsform::credentials_request::{self, CredentialsRequest, LoadOptions};
use stsform::desired::{self, Desired, Facts, SigningKey};
use stsform::iam_policy::parse_aws_document;
use stsform::keypair::PublicKey;
use stsform::resource::{FileContent, ResourceId, ResourceKind, Spec, UNKNOWN};
use stsform::settings::{self, Need, Settings, SettingsInput};

const ACCOUNT: &str = "123456789012";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Settings as a run without a settings file in a directory holding `install/` resolves
/// them (`--output-dir install`): local paths recorded as `install/...`. The empty
/// settings file only keeps a `stsform.toml` in the test's working directory out.
pub fn settings(name: &str, region: &str, dir: &Path) -> Settings {
    let mut s = settings::resolve(
        &SettingsInput {
            name: Some(name.into()),
            region: Some(region.into()),
            credentials_requests_dir: Some(dir.to_path_buf()),
            output_dir: Some("install".into()),
            config: Some(root().join("tests/fixtures/empty-stsform.toml")),
            ..SettingsInput::default()
        },
        Need::Cluster,
    )
    .unwrap();
    s.base = ".".into();
    s.recorded_output_dir = "install".into();
    s
}

pub fn requests(dir: &Path) -> Vec<CredentialsRequest> {
    credentials_request::load(dir, &LoadOptions::default())
        .unwrap()
        .requests
}

pub fn fixed_key() -> SigningKey {
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/keys/fixed.public.pem")).unwrap();
    let key = PublicKey::from_pem(&text, "fixed.public.pem").unwrap();
    SigningKey::key_pair(&key)
}

fn cluster() -> (Settings, Desired) {
    let dir = root().join("examples/cluster");
    let s = settings("prod-east", "us-east-2", &dir);
    let facts = Facts {
        account_id: Some(ACCOUNT.into()),
        signing_key: Some(fixed_key()),
        ..Facts::default()
    };
    let d = desired::derive(&requests(&dir), &s, &facts).unwrap();
    (s, d)
}

fn spec<'a>(d: &'a Desired, kind: ResourceKind, name: &str) -> &'a Spec {
    &d.resources
        .get(&ResourceId::new(kind, name))
        .unwrap_or_else(|| panic!("{kind}.{name} not derived"))
        .spec
}

#[test]
fn every_resource_of_the_release_requests_is_derived_with_ccoctl_names() {
    let (_, d) = cluster();
    let ids: Vec<String> = d.resources.keys().map(ToString::to_string).collect();
    assert_eq!(
        ids,
        [
            "key_pair.serviceaccount-signer",
            "s3_bucket.prod-east-oidc",
            "s3_object.prod-east-oidc/.well-known/openid-configuration",
            "s3_object.prod-east-oidc/keys.json",
            "iam_oidc_provider.prod-east-oidc.s3.us-east-2.amazonaws.com",
            // 84 and 69 bytes before the cut to 64, exactly as ccoctl cuts them.
            "iam_role.prod-east-openshift-cloud-credential-operator-cloud-credential-o",
            "iam_role.prod-east-openshift-cloud-network-config-controller-cloud-creden",
            // Feature-gated (`release.openshift.io/feature-gate`): ccoctl makes it too.
            "iam_role.prod-east-openshift-cluster-api-capa-manager-bootstrap-credentia",
            "iam_role.prod-east-openshift-cluster-csi-drivers-ebs-cloud-credentials",
            "iam_role.prod-east-openshift-image-registry-installer-cloud-credentials",
            "iam_role.prod-east-openshift-ingress-operator-cloud-credentials",
            "iam_role.prod-east-openshift-machine-api-aws-cloud-credentials",
            "iam_role_policy.prod-east-openshift-cloud-credential-operator-cloud-credential-o",
            "iam_role_policy.prod-east-openshift-cloud-network-config-controller-cloud-creden",
            "iam_role_policy.prod-east-openshift-cluster-api-capa-manager-bootstrap-credentia",
            "iam_role_policy.prod-east-openshift-cluster-csi-drivers-ebs-cloud-credentials",
            "iam_role_policy.prod-east-openshift-image-registry-installer-cloud-credentials",
            "iam_role_policy.prod-east-openshift-ingress-operator-cloud-credentials",
            "iam_role_policy.prod-east-openshift-machine-api-aws-cloud-credentials",
            "file.manifests/cluster-authentication-02-config.yaml",
            "file.manifests/openshift-cloud-credential-operator-cloud-credential-operator-iam-ro-creds-credentials.yaml",
            "file.manifests/openshift-cloud-network-config-controller-cloud-credentials-credentials.yaml",
            "file.manifests/openshift-cluster-api-capa-manager-bootstrap-credentials-credentials.yaml",
            "file.manifests/openshift-cluster-csi-drivers-ebs-cloud-credentials-credentials.yaml",
            "file.manifests/openshift-image-registry-installer-cloud-credentials-credentials.yaml",
            "file.manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml",
            "file.manifests/openshift-machine-api-aws-cloud-credentials-credentials.yaml",
            "file.tls/bound-service-account-signing-key.key",
        ]
    );
    for id in d
        .resources
        .keys()
        .filter(|i| i.kind == ResourceKind::IamRole)
    {
        assert!(id.name.len() <= 64, "{id}");
    }
}

#[test]
fn ebs_trust_and_permissions_policies_mean_what_ccoctl_sends() {
    let (_, d) = cluster();
    let role = "prod-east-openshift-cluster-csi-drivers-ebs-cloud-credentials";
    let Spec::IamRole(r) = spec(&d, ResourceKind::IamRole, role) else {
        panic!()
    };
    assert_eq!(r.arn, format!("arn:aws:iam::{ACCOUNT}:role/{role}"));
    assert_eq!(
        r.description,
        "OpenShift role for openshift-cluster-csi-drivers/ebs-cloud-credentials"
    );
    assert_eq!(r.permissions_boundary, None);
    // ccoctl's own text (create-iam-roles.go template), spacing and all.
    let ccoctl_trust = r#"{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Federated": "arn:aws:iam::123456789012:oidc-provider/prod-east-oidc.s3.us-east-2.amazonaws.com" }, "Action": "sts:AssumeRoleWithWebIdentity", "Condition":  { "StringEquals": { "prod-east-oidc.s3.us-east-2.amazonaws.com:sub": [ "system:serviceaccount:openshift-cluster-csi-drivers:aws-ebs-csi-driver-operator"  , "system:serviceaccount:openshift-cluster-csi-drivers:aws-ebs-csi-driver-controller-sa" ] } } } ] }"#;
    assert_eq!(r.trust_policy, parse_aws_document(ccoctl_trust).unwrap());

    let Spec::IamRolePolicy(p) = spec(&d, ResourceKind::IamRolePolicy, role) else {
        panic!()
    };
    assert_eq!((p.role.as_str(), p.name.as_str()), (role, role));
    // What ccoctl's json.Marshal produces for this request (Go field order, Resource a string).
    let ccoctl_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:AttachVolume","ec2:CreateSnapshot","ec2:CreateTags","ec2:CreateVolume","ec2:DeleteSnapshot","ec2:DeleteTags","ec2:DeleteVolume","ec2:DescribeInstances","ec2:DescribeSnapshots","ec2:DescribeTags","ec2:DescribeVolumes","ec2:DescribeVolumesModifications","ec2:DetachVolume","ec2:ModifyVolume","ec2:DescribeAvailabilityZones","ec2:EnableFastSnapshotRestores","ec2:DescribeInstanceTypes","ec2:DescribeVolumeStatus","ec2:CopyVolumes","ec2:LockSnapshot"],"Resource":"*"},{"Effect":"Allow","Action":["kms:ReEncrypt*","kms:Decrypt","kms:Encrypt","kms:GenerateDataKey","kms:GenerateDataKeyWithoutPlainText","kms:DescribeKey"],"Resource":"*"},{"Effect":"Allow","Action":["kms:RevokeGrant","kms:CreateGrant","kms:ListGrants"],"Resource":"*","Condition":{"Bool":{"kms:GrantIsForAWSResource":true}}}]}"#;
    assert_eq!(p.document, parse_aws_document(ccoctl_policy).unwrap());
    // One action less is a different policy: the comparison can fail.
    let fewer = ccoctl_policy.replace("\"ec2:LockSnapshot\"", "\"ec2:CopyVolumes\"");
    assert_ne!(p.document, parse_aws_document(&fewer).unwrap());
}

#[test]
fn machine_api_policies_and_secret_manifest() {
    let (_, d) = cluster();
    let role = "prod-east-openshift-machine-api-aws-cloud-credentials";
    let Spec::IamRole(r) = spec(&d, ResourceKind::IamRole, role) else {
        panic!()
    };
    assert_eq!(
        r.trust_policy["Statement"][0]["Condition"],
        json!({"StringEquals": {"prod-east-oidc.s3.us-east-2.amazonaws.com:sub": ["system:serviceaccount:openshift-machine-api:machine-api-controllers"]}})
    );
    let Spec::IamRolePolicy(p) = spec(&d, ResourceKind::IamRolePolicy, role) else {
        panic!()
    };
    let statements = p.document["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 3);
    let actions: usize = statements
        .iter()
        .map(|s| s["Action"].as_array().unwrap().len())
        .sum();
    assert_eq!(actions, 23 + 6 + 3);
    assert!(
        statements
            .iter()
            .any(|s| s["Condition"] == json!({"Bool": {"kms:GrantIsForAWSResource": ["true"]}}))
    );

    let Spec::File(f) = spec(
        &d,
        ResourceKind::File,
        "manifests/openshift-machine-api-aws-cloud-credentials-credentials.yaml",
    ) else {
        panic!()
    };
    assert_eq!(
        f.path,
        "install/manifests/openshift-machine-api-aws-cloud-credentials-credentials.yaml"
    );
    assert_eq!(f.mode, 0o600);
    assert_eq!(
        f.content,
        FileContent::Text(format!(
            "apiVersion: v1\nstringData:\n  credentials: |-\n    [default]\n    sts_regional_endpoints = regional\n    role_arn = arn:aws:iam::{ACCOUNT}:role/{role}\n    web_identity_token_file = /var/run/secrets/openshift/serviceaccount/token\nkind: Secret\nmetadata:\n  name: aws-cloud-credentials\n  namespace: openshift-machine-api\ntype: Opaque"
        ))
    );
}

#[test]
fn oidc_documents_provider_and_bucket() {
    let (_, d) = cluster();
    let issuer = "https://prod-east-oidc.s3.us-east-2.amazonaws.com";
    let Spec::S3Object(o) = spec(
        &d,
        ResourceKind::S3Object,
        "prod-east-oidc/.well-known/openid-configuration",
    ) else {
        panic!()
    };
    assert_eq!(
        o.content,
        format!(
            "{{\n\t\"issuer\": \"{issuer}\",\n\t\"jwks_uri\": \"{issuer}/keys.json\",\n    \"response_types_supported\": [\n        \"id_token\"\n    ],\n    \"subject_types_supported\": [\n        \"public\"\n    ],\n    \"id_token_signing_alg_values_supported\": [\n        \"RS256\"\n    ],\n    \"claims_supported\": [\n        \"aud\",\n        \"exp\",\n        \"sub\",\n        \"iat\",\n        \"iss\",\n        \"sub\"\n    ]\n}}"
        )
    );
    let Spec::S3Object(k) = spec(&d, ResourceKind::S3Object, "prod-east-oidc/keys.json") else {
        panic!()
    };
    let jwks: serde_json::Value = serde_json::from_str(&k.content).unwrap();
    // kid computed independently with openssl (tests/fixtures/keys/README.md).
    assert_eq!(
        jwks["keys"][0]["kid"],
        "yOLncXRrBJ6wYxcvUcKXTF1tRUGKVW6_7x5sQhsk4Is"
    );
    assert_eq!(k.content_type, "application/json");
    assert_eq!(
        k.tags["openshift.io/cloud-credential-operator/prod-east"],
        "owned"
    );

    let Spec::IamOidcProvider(p) = spec(
        &d,
        ResourceKind::IamOidcProvider,
        "prod-east-oidc.s3.us-east-2.amazonaws.com",
    ) else {
        panic!()
    };
    assert_eq!(p.url, issuer);
    assert_eq!(
        p.arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/prod-east-oidc.s3.us-east-2.amazonaws.com")
    );
    assert_eq!(p.client_ids, ["openshift", "sts.amazonaws.com"]);

    let Spec::S3Bucket(b) = spec(&d, ResourceKind::S3Bucket, "prod-east-oidc") else {
        panic!()
    };
    assert_eq!(b.region, "us-east-2");
    assert!(b.public_access_block.block_public_acls && !b.public_access_block.block_public_policy);
    assert_eq!(
        b.policy.as_ref().unwrap()["Statement"][0]["Resource"],
        json!(["arn:aws:s3:::prod-east-oidc/*"])
    );
    assert_eq!(b.tags.len(), 2);

    let Spec::File(a) = spec(
        &d,
        ResourceKind::File,
        "manifests/cluster-authentication-02-config.yaml",
    ) else {
        panic!()
    };
    assert_eq!(
        a.content,
        FileContent::Text(format!(
            "apiVersion: config.openshift.io/v1\nkind: Authentication\nmetadata:\n  name: cluster\nspec:\n  serviceAccountIssuer: {issuer}"
        ))
    );
}

#[test]
fn dependencies_are_explicit() {
    let (_, d) = cluster();
    let deps = |kind, name: &str| -> Vec<String> {
        d.resources[&ResourceId::new(kind, name)]
            .depends_on
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let role = "prod-east-openshift-ingress-operator-cloud-credentials";
    assert_eq!(
        deps(ResourceKind::IamRole, role),
        ["iam_oidc_provider.prod-east-oidc.s3.us-east-2.amazonaws.com"]
    );
    assert_eq!(
        deps(ResourceKind::IamRolePolicy, role),
        [format!("iam_role.{role}")]
    );
    assert_eq!(
        deps(
            ResourceKind::File,
            "manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml"
        ),
        [format!("iam_role.{role}")]
    );
    assert_eq!(
        deps(ResourceKind::S3Object, "prod-east-oidc/keys.json"),
        ["key_pair.serviceaccount-signer", "s3_bucket.prod-east-oidc"]
    );
    assert_eq!(
        deps(
            ResourceKind::File,
            "tls/bound-service-account-signing-key.key"
        ),
        ["key_pair.serviceaccount-signer"]
    );
    assert!(deps(ResourceKind::S3Bucket, "prod-east-oidc").is_empty());
    // The provider needs only the (derived) issuer URL, so roles never wait on the bucket.
    assert!(
        deps(
            ResourceKind::IamOidcProvider,
            "prod-east-oidc.s3.us-east-2.amazonaws.com"
        )
        .is_empty()
    );
}

#[test]
fn a_private_issuer_waits_for_its_distribution_and_names_it_once_known() {
    use stsform::private_issuer::Known;
    use stsform::resource::Late;
    let dir = root().join("examples/cluster");
    let mut s = settings("prod-east", "us-east-2", &dir);
    s.create_private_s3_bucket = true;
    let mut facts = Facts {
        account_id: Some(ACCOUNT.into()),
        signing_key: Some(fixed_key()),
        ..Facts::default()
    };
    let d = desired::derive(&requests(&dir), &s, &facts).unwrap();
    let deps = |d: &Desired, id: &str| -> Vec<String> {
        let id: ResourceId = id.parse().unwrap();
        d.resources[&id]
            .depends_on
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let late_provider = format!("iam_oidc_provider.{}", Late::DistributionDomain.token());
    // Everything that names the issuer waits for the distribution, and it for the
    // bucket (its origin) and the OAC (its signer); the policy naming it comes after.
    assert_eq!(
        deps(&d, "cloudfront_distribution.prod-east-oidc"),
        [
            "s3_bucket.prod-east-oidc",
            "cloudfront_origin_access_control.prod-east-oidc"
        ]
    );
    assert_eq!(
        deps(&d, "s3_bucket_policy.prod-east-oidc"),
        [
            "s3_bucket.prod-east-oidc",
            "cloudfront_distribution.prod-east-oidc"
        ]
    );
    assert_eq!(
        deps(
            &d,
            "s3_object.prod-east-oidc/.well-known/openid-configuration"
        ),
        [
            "s3_bucket.prod-east-oidc",
            "cloudfront_distribution.prod-east-oidc"
        ]
    );
    assert_eq!(
        deps(&d, &late_provider),
        ["cloudfront_distribution.prod-east-oidc"]
    );
    assert_eq!(
        deps(
            &d,
            "iam_role.prod-east-openshift-ingress-operator-cloud-credentials"
        ),
        [late_provider]
    );
    let Spec::S3Bucket(b) = spec(&d, ResourceKind::S3Bucket, "prod-east-oidc") else {
        panic!()
    };
    assert!(b.policy.is_none(), "the policy is its own resource");
    let p = b.public_access_block;
    assert!(
        p.block_public_acls
            && p.ignore_public_acls
            && p.block_public_policy
            && p.restrict_public_buckets
    );

    // Once the distribution is known, the same derive names it everywhere, and nothing
    // waits any more.
    facts.private = Known {
        oac_id: Some("E1OAC".into()),
        distribution: Some(("EDIST".into(), "d1.cloudfront.net".into())),
    };
    let known = desired::derive(&requests(&dir), &s, &facts).unwrap();
    assert!(
        known
            .resources
            .values()
            .all(|r| r.spec.late_values().is_empty())
    );
    let Spec::IamOidcProvider(provider) =
        spec(&known, ResourceKind::IamOidcProvider, "d1.cloudfront.net")
    else {
        panic!()
    };
    assert_eq!(provider.url, "https://d1.cloudfront.net");
    assert_eq!(
        provider.arn,
        format!("arn:aws:iam::{ACCOUNT}:oidc-provider/d1.cloudfront.net")
    );
    let Spec::IamRole(role) = spec(
        &known,
        ResourceKind::IamRole,
        "prod-east-openshift-ingress-operator-cloud-credentials",
    ) else {
        panic!()
    };
    let condition = &role.trust_policy["Statement"][0]["Condition"]["StringEquals"];
    assert!(
        condition.get("d1.cloudfront.net:sub").is_some(),
        "{condition}"
    );
    let Spec::File(auth) = spec(
        &known,
        ResourceKind::File,
        "manifests/cluster-authentication-02-config.yaml",
    ) else {
        panic!()
    };
    assert_eq!(
        auth.content,
        stsform::resource::FileContent::Text(desired::authentication_manifest(
            "https://d1.cloudfront.net"
        ))
    );
}

#[test]
fn derive_is_deterministic_and_offline_values_are_unknown() {
    let dir = root().join("examples/cluster");
    let s = settings("prod-east", "us-east-2", &dir);
    let r = requests(&dir);
    let a = desired::derive(&r, &s, &Facts::default()).unwrap();
    let b = desired::derive(&r, &s, &Facts::default()).unwrap();
    assert_eq!(a, b);
    let Spec::IamRole(role) = spec(
        &a,
        ResourceKind::IamRole,
        "prod-east-openshift-ingress-operator-cloud-credentials",
    ) else {
        panic!()
    };
    assert_eq!(role.arn, UNKNOWN);
    let Spec::S3Object(k) = spec(&a, ResourceKind::S3Object, "prod-east-oidc/keys.json") else {
        panic!()
    };
    assert_eq!(k.content, UNKNOWN);
}

#[test]
fn china_and_govcloud_partitions_name_everything_right() {
    let dir = root().join("examples/cluster");
    let facts = Facts {
        account_id: Some(ACCOUNT.into()),
        signing_key: Some(fixed_key()),
        ..Facts::default()
    };
    let d = desired::derive(&requests(&dir), &settings("c1", "cn-north-1", &dir), &facts).unwrap();
    let Spec::IamOidcProvider(p) = spec(
        &d,
        ResourceKind::IamOidcProvider,
        "c1-oidc.s3.cn-north-1.amazonaws.com.cn",
    ) else {
        panic!()
    };
    assert_eq!(p.url, "https://c1-oidc.s3.cn-north-1.amazonaws.com.cn");
    assert_eq!(
        p.arn,
        format!("arn:aws-cn:iam::{ACCOUNT}:oidc-provider/c1-oidc.s3.cn-north-1.amazonaws.com.cn")
    );
    let Spec::S3Bucket(b) = spec(&d, ResourceKind::S3Bucket, "c1-oidc") else {
        panic!()
    };
    assert_eq!(
        b.policy.as_ref().unwrap()["Statement"][0]["Resource"],
        json!(["arn:aws-cn:s3:::c1-oidc/*"])
    );

    let ingress = "c1-openshift-ingress-operator-cloud-credentials";
    let manifest = "manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml";
    let Spec::File(secret) = spec(&d, ResourceKind::File, manifest) else {
        panic!()
    };
    let FileContent::Text(text) = &secret.content else {
        panic!()
    };
    assert!(
        text.contains(&format!(
            "role_arn = arn:aws-cn:iam::{ACCOUNT}:role/{ingress}\n"
        )),
        "{text}"
    );
    let Spec::File(auth) = spec(
        &d,
        ResourceKind::File,
        "manifests/cluster-authentication-02-config.yaml",
    ) else {
        panic!()
    };
    let FileContent::Text(text) = &auth.content else {
        panic!()
    };
    assert!(
        text.ends_with("serviceAccountIssuer: https://c1-oidc.s3.cn-north-1.amazonaws.com.cn"),
        "{text}"
    );
    let Spec::S3Object(doc) = spec(
        &d,
        ResourceKind::S3Object,
        "c1-oidc/.well-known/openid-configuration",
    ) else {
        panic!()
    };
    assert!(
        doc.content
            .contains("\"jwks_uri\": \"https://c1-oidc.s3.cn-north-1.amazonaws.com.cn/keys.json\"")
    );

    let d = desired::derive(
        &requests(&dir),
        &settings("g1", "us-gov-west-1", &dir),
        &facts,
    )
    .unwrap();
    let Spec::IamRole(r) = spec(
        &d,
        ResourceKind::IamRole,
        "g1-openshift-ingress-operator-cloud-credentials",
    ) else {
        panic!()
    };
    assert_eq!(
        r.arn,
        format!(
            "arn:aws-us-gov:iam::{ACCOUNT}:role/g1-openshift-ingress-operator-cloud-credentials"
        )
    );
    assert_eq!(
        r.trust_policy["Statement"][0]["Principal"]["Federated"],
        json!([format!(
            "arn:aws-us-gov:iam::{ACCOUNT}:oidc-provider/g1-oidc.s3.us-gov-west-1.amazonaws.com"
        )])
    );
    let Spec::S3Bucket(b) = spec(&d, ResourceKind::S3Bucket, "g1-oidc") else {
        panic!()
    };
    assert_eq!(
        b.policy.as_ref().unwrap()["Statement"][0]["Resource"],
        json!(["arn:aws-us-gov:s3:::g1-oidc/*"])
    );
    let Spec::File(secret) = spec(&d, ResourceKind::File, manifest) else {
        panic!()
    };
    let FileContent::Text(text) = &secret.content else {
        panic!()
    };
    assert!(
        text.contains("role_arn = arn:aws-us-gov:iam::123456789012:role/g1-"),
        "{text}"
    );
}

#[test]
fn day2_roles_trust_an_existing_provider_and_nothing_else_is_derived() {
    let dir = root().join("examples/day2");
    let mut s = settings("apps", "us-east-2", &dir);
    let arn = "arn:aws:iam::123456789012:oidc-provider/prod-east-oidc.s3.us-east-2.amazonaws.com";
    s.identity_provider_arn = Some(arn.into());
    let facts = Facts {
        account_id: Some(ACCOUNT.into()),
        signing_key: None,
        ..Facts::default()
    };
    let d = desired::derive(&requests(&dir), &s, &facts).unwrap();
    let ids: Vec<String> = d.resources.keys().map(ToString::to_string).collect();
    assert_eq!(
        ids,
        [
            "iam_role.apps-default-s3-access-secret",
            "iam_role_policy.apps-default-s3-access-secret",
            "file.manifests/default-s3-access-secret-credentials.yaml",
        ]
    );
    let Spec::IamRole(r) = spec(&d, ResourceKind::IamRole, "apps-default-s3-access-secret") else {
        panic!()
    };
    assert_eq!(
        r.trust_policy["Statement"][0]["Condition"]["StringEquals"],
        json!({"prod-east-oidc.s3.us-east-2.amazonaws.com:sub": ["system:serviceaccount:default:default"]})
    );
    assert!(
        d.resources
            .values()
            .all(|r| r.depends_on.iter().all(|dep| d.resources.contains_key(dep)))
    );
    let Spec::IamRolePolicy(p) = spec(
        &d,
        ResourceKind::IamRolePolicy,
        "apps-default-s3-access-secret",
    ) else {
        panic!()
    };
    assert_eq!(
        p.document["Statement"][0]["Action"],
        json!(["s3:ListAllMyBuckets"])
    );
}

#[test]
fn roles_colliding_after_truncation_are_refused_with_both_places() {
    let tmp = tempfile::tempdir().unwrap();
    let request = |secret: &str| {
        format!(
            "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata:\n  name: {secret}\nspec:\n  secretRef:\n    name: {secret}\n    namespace: openshift-a-very-long-namespace-name-for-testing\n  serviceAccountNames: [sa]\n  providerSpec:\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: Allow\n      action: [s3:GetObject]\n      resource: '*'\n"
        )
    };
    std::fs::write(
        tmp.path().join("a.yaml"),
        request("credentials-for-the-first-controller"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("b.yaml"),
        request("credentials-for-the-second-controller"),
    )
    .unwrap();
    let s = settings("prod-east", "us-east-2", tmp.path());
    let err = desired::derive(&requests(tmp.path()), &s, &Facts::default()).unwrap_err();
    let a = tmp.path().join("a.yaml").display().to_string();
    let b = tmp.path().join("b.yaml").display().to_string();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid input (1 problem)\n  {b}: document 1: spec.secretRef: role name `prod-east-openshift-a-very-long-namespace-name-for-testing-crede` (cut to 64 bytes) collides with the request in {a}: document 1; shorten --name or the secret's namespace/name"
        )
    );
}
