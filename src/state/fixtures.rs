//! States for the unit tests of the state modules: one resource of every kind.

use super::*;
use crate::resource::{
    BucketPolicySpec, BucketSpec, DistributionSpec, FileContent, FileSpec, KeyPairSpec, ObjectSpec,
    OidcProviderSpec, OriginAccessControlSpec, PublicAccessBlock, ResourceId, ResourceKind,
    RolePolicySpec, RoleSpec, Spec, Tags, UNKNOWN,
};
use serde_json::json;

pub const CLUSTER: &str = "prod-east";

pub fn tags() -> Tags {
    Tags::from([
        (
            "kubernetes.io/cluster/prod-east".to_string(),
            "owned".to_string(),
        ),
        ("team".to_string(), "platform".to_string()),
    ])
}

/// A state holding one resource of every kind, with every optional field set (a public
/// bucket's policy as well as a private issuer's, though a cluster has one or the other).
pub fn full_state() -> State {
    let bucket = "prod-east-oidc";
    let oidc_host = "prod-east-oidc.s3.us-east-2.amazonaws.com";
    let role = "prod-east-openshift-ingress-operator-cloud-credentials";
    let key_id = ResourceId::new(ResourceKind::KeyPair, "serviceaccount-signer");
    let bucket_id = ResourceId::new(ResourceKind::S3Bucket, bucket);
    let oidc_id = ResourceId::new(ResourceKind::IamOidcProvider, oidc_host);
    let role_id = ResourceId::new(ResourceKind::IamRole, role);
    let specs = vec![
        (
            key_id.clone(),
            Spec::KeyPair(KeyPairSpec {
                private_key_file: Some("out/serviceaccount-signer.private".into()),
                public_key_file: "out/serviceaccount-signer.public".into(),
                kid: "Zm9vYmFy".into(),
            }),
            vec![],
        ),
        (
            bucket_id.clone(),
            Spec::S3Bucket(BucketSpec {
                name: bucket.into(),
                region: "us-east-2".into(),
                tags: tags(),
                public_access_block: PublicAccessBlock {
                    block_public_acls: true,
                    ignore_public_acls: true,
                    block_public_policy: false,
                    restrict_public_buckets: false,
                },
                policy: Some(json!({"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                     "Resource": "arn:aws:s3:::prod-east-oidc/*"}]})),
            }),
            vec![],
        ),
        (
            ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, bucket),
            Spec::CloudFrontOriginAccessControl(OriginAccessControlSpec {
                name: bucket.into(),
                description: "openshift.io/cloud-credential-operator/prod-east".into(),
                origin_type: "s3".into(),
                signing_behavior: "always".into(),
                signing_protocol: "sigv4".into(),
                id: "E1OACEXAMPLE".into(),
            }),
            vec![],
        ),
        (
            ResourceId::new(ResourceKind::CloudFrontDistribution, bucket),
            Spec::CloudFrontDistribution(DistributionSpec {
                id: "E2DISTEXAMPLE".into(),
                arn: "arn:aws:cloudfront::123456789012:distribution/E2DISTEXAMPLE".into(),
                domain_name: "d111111abcdef8.cloudfront.net".into(),
                comment: "openshift.io/cloud-credential-operator/prod-east".into(),
                origin_domain: format!("{bucket}.s3.us-east-2.amazonaws.com"),
                origin_access_control_id: "E1OACEXAMPLE".into(),
                enabled: true,
                viewer_protocol_policy: "https-only".into(),
                cache_policy_id: "4135ea2d-6df8-44a3-9df3-4b5a84be39ad".into(),
                tags: tags(),
            }),
            vec![
                bucket_id.clone(),
                ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, bucket),
            ],
        ),
        (
            ResourceId::new(ResourceKind::S3BucketPolicy, bucket),
            Spec::S3BucketPolicy(BucketPolicySpec {
                bucket: bucket.into(),
                region: "us-east-2".into(),
                policy: json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
                    "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{bucket}/keys.json"),
                    "Condition": {"StringEquals": {"AWS:SourceArn":
                        "arn:aws:cloudfront::123456789012:distribution/E2DISTEXAMPLE"}}}]}),
            }),
            vec![
                bucket_id.clone(),
                ResourceId::new(ResourceKind::CloudFrontDistribution, bucket),
            ],
        ),
        (
            ResourceId::new(ResourceKind::S3Object, format!("{bucket}/keys.json")),
            Spec::S3Object(ObjectSpec {
                bucket: bucket.into(),
                key: "keys.json".into(),
                content_type: "application/json".into(),
                tags: tags(),
                content: "{\n  \"keys\": []\n}\n".into(),
            }),
            vec![bucket_id.clone(), key_id.clone()],
        ),
        (
            oidc_id.clone(),
            Spec::IamOidcProvider(OidcProviderSpec {
                url: format!("https://{oidc_host}"),
                arn: format!("arn:aws:iam::123456789012:oidc-provider/{oidc_host}"),
                client_ids: vec!["openshift".into(), "sts.amazonaws.com".into()],
                thumbprints: vec!["A9D53002E97E00E043244F3D170D6F4C414104FD".into()],
                tags: tags(),
            }),
            vec![bucket_id.clone()],
        ),
        (
            role_id.clone(),
            Spec::IamRole(RoleSpec {
                name: role.into(),
                arn: UNKNOWN.into(),
                description: "OpenShift role for openshift-ingress-operator/cloud-credentials"
                    .into(),
                trust_policy: json!({"Version": "2012-10-17", "Statement": [{
                    "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                    "Principal": {"Federated": format!("arn:aws:iam::123456789012:oidc-provider/{oidc_host}")},
                    "Condition": {"StringEquals": {"x:sub": ["a", "b"]}}}]}),
                permissions_boundary: Some("arn:aws:iam::123456789012:policy/b".into()),
                tags: Tags::new(),
            }),
            vec![oidc_id.clone()],
        ),
        (
            ResourceId::new(ResourceKind::IamRolePolicy, role),
            Spec::IamRolePolicy(RolePolicySpec {
                role: role.into(),
                name: role.into(),
                document: json!({"Version": "2012-10-17", "Statement": []}),
            }),
            vec![role_id.clone()],
        ),
        (
            ResourceId::new(ResourceKind::File, "out/manifests/ingress-credentials.yaml"),
            Spec::File(FileSpec {
                path: "out/manifests/ingress-credentials.yaml".into(),
                mode: 0o600,
                content: FileContent::Text("apiVersion: v1\nkind: Secret\n".into()),
            }),
            vec![role_id.clone()],
        ),
        (
            ResourceId::new(
                ResourceKind::File,
                "out/tls/bound-service-account-signing-key.key",
            ),
            Spec::File(FileSpec {
                path: "out/tls/bound-service-account-signing-key.key".into(),
                mode: 0o600,
                content: FileContent::PrivateKeyCopy {
                    kid: "Zm9vYmFy".into(),
                },
            }),
            vec![key_id.clone()],
        ),
    ];
    let mut state = State::new(CLUSTER);
    state.serial = 3;
    state.scope = Some(Scope::Cluster);
    // Insert in reverse to show that output order does not depend on insertion order.
    for (id, spec, depends_on) in specs.into_iter().rev() {
        state
            .resources
            .insert(id, StateResource { spec, depends_on });
    }
    state
}

pub fn parse(text: &str) -> Result<State, StateError> {
    State::from_toml(text, "state/prod-east.toml")
}

pub fn parse_err(text: &str) -> String {
    parse(text).expect_err("should not parse").to_string()
}

/// A minimal valid state text with one role resource, for mutation in error tests.
pub fn one_role_text() -> String {
    let mut state = State::new(CLUSTER);
    let spec = full_state()
        .resources
        .into_iter()
        .find(|(id, _)| id.kind == ResourceKind::IamRole)
        .unwrap();
    state.resources.insert(spec.0, spec.1);
    state.to_toml()
}
