//! The fake AWS account behind `Account`, for fast scenario runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use stsform::keypair::PrivateKey;
use stsform::provider::fake::{FakeCloud, FakeProvider};
use stsform::resource::{
    BucketSpec, ObjectSpec, PublicAccessBlock, ResourceId, ResourceKind, RoleSpec, Spec, Tags,
};

use crate::harness::{ACCOUNT_ID, Account, CloudFrontView, DistributionView, RoleDocuments};

#[derive(Clone)]
pub struct FakeAccount(pub Arc<FakeCloud>);

impl FakeAccount {
    pub fn new() -> FakeAccount {
        FakeAccount(FakeCloud::new(ACCOUNT_ID))
    }

    fn get(&self, kind: ResourceKind, name: &str) -> Spec {
        self.0.snapshot()[&ResourceId::new(kind, name)].clone()
    }
}

impl Account for FakeAccount {
    type P = FakeProvider;

    async fn provider(&self, key: Option<PrivateKey>) -> Arc<FakeProvider> {
        Arc::new(FakeProvider::new(Arc::clone(&self.0), key))
    }

    async fn inventory(&self, name: &str) -> BTreeSet<String> {
        let prefix = format!("{name}-");
        let key = stsform::ownership::tag_key(name);
        self.0
            .snapshot()
            .into_iter()
            // A private issuer's provider is named by its distribution's domain: it is the
            // cluster's by its tag.
            .filter(|(id, spec)| {
                id.name.starts_with(&prefix)
                    || matches!(spec, Spec::IamOidcProvider(p) if p.tags.contains_key(&key))
            })
            .filter_map(|(id, spec)| match spec {
                Spec::S3Bucket(b) => Some(format!("bucket:{}", b.name)),
                // Part of its bucket in the inventory's notation (as a public bucket's is).
                Spec::S3BucketPolicy(_) => None,
                Spec::S3Object(o) => Some(format!("object:{}/{}", o.bucket, o.key)),
                Spec::IamOidcProvider(p) => {
                    Some(format!("provider:{}", p.url.trim_start_matches("https://")))
                }
                Spec::IamRole(r) => Some(format!("role:{}", r.name)),
                Spec::IamRolePolicy(p) => Some(format!("role_policy:{}/{}", p.role, p.name)),
                Spec::CloudFrontOriginAccessControl(o) => Some(format!("oac:{}", o.name)),
                Spec::CloudFrontDistribution(_) => Some(format!("distribution:{}", id.name)),
                other => panic!("{id}: local kind in the fake cloud: {other:?}"),
            })
            .collect()
    }

    fn writes(&self) -> usize {
        self.0.writes()
    }

    async fn put_role_policy(&self, role: &str, document: &str) {
        let Spec::IamRolePolicy(mut p) = self.get(ResourceKind::IamRolePolicy, role) else {
            unreachable!()
        };
        p.document = stsform::iam_policy::parse_aws_document(document).unwrap();
        self.0.set(
            &ResourceId::new(ResourceKind::IamRolePolicy, role),
            Some(Spec::IamRolePolicy(p)),
        );
    }

    async fn delete_role(&self, role: &str) {
        self.0
            .set(&ResourceId::new(ResourceKind::IamRolePolicy, role), None);
        self.0
            .set(&ResourceId::new(ResourceKind::IamRole, role), None);
    }

    async fn put_bucket_policy(&self, bucket: &str, document: &str) {
        let Spec::S3Bucket(mut b) = self.get(ResourceKind::S3Bucket, bucket) else {
            unreachable!()
        };
        b.policy = Some(stsform::iam_policy::parse_aws_document(document).unwrap());
        self.0.set(
            &ResourceId::new(ResourceKind::S3Bucket, bucket),
            Some(Spec::S3Bucket(b)),
        );
    }

    async fn untag_role(&self, role: &str, key: &str) {
        let Spec::IamRole(mut r) = self.get(ResourceKind::IamRole, role) else {
            unreachable!()
        };
        r.tags.remove(key);
        self.0.set(
            &ResourceId::new(ResourceKind::IamRole, role),
            Some(Spec::IamRole(r)),
        );
    }

    async fn create_foreign_role(&self, role: &str) {
        let spec = RoleSpec {
            name: role.into(),
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:role/{role}"),
            description: "not stsform's".into(),
            trust_policy: serde_json::json!({"Version": "2012-10-17", "Statement": []}),
            permissions_boundary: None,
            tags: Default::default(),
        };
        self.0.set(
            &ResourceId::new(ResourceKind::IamRole, role),
            Some(Spec::IamRole(spec)),
        );
    }

    async fn fail_next_role_create(&self, role: &str) {
        self.0.fail(
            &ResourceId::new(ResourceKind::IamRole, role),
            stsform::provider::fake::Op::Create,
            1,
        );
    }

    async fn heal(&self, _role: &str) {}

    async fn create_foreign_object(&self, bucket: &str, key: &str) {
        let b = BucketSpec {
            name: bucket.into(),
            region: "us-east-2".into(),
            tags: Default::default(),
            public_access_block: PublicAccessBlock {
                block_public_acls: true,
                ignore_public_acls: true,
                block_public_policy: true,
                restrict_public_buckets: true,
            },
            policy: Some(serde_json::Value::Null),
        };
        self.0.set(
            &ResourceId::new(ResourceKind::S3Bucket, bucket),
            Some(Spec::S3Bucket(b)),
        );
        let o = ObjectSpec {
            bucket: bucket.into(),
            key: key.into(),
            content_type: "text/plain".into(),
            tags: Default::default(),
            content: "foreign".into(),
        };
        self.0.set(
            &ResourceId::new(ResourceKind::S3Object, format!("{bucket}/{key}")),
            Some(Spec::S3Object(o)),
        );
    }

    async fn create_tagged_role(&self, role: &str, cluster: &str) {
        let spec = RoleSpec {
            name: role.into(),
            arn: format!("arn:aws:iam::{ACCOUNT_ID}:role/{role}"),
            description: String::new(),
            trust_policy: stsform::iam_policy::canonicalize(&serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]
            })),
            permissions_boundary: None,
            tags: Tags::from([
                (
                    format!("openshift.io/cloud-credential-operator/{cluster}"),
                    "owned".to_string(),
                ),
                ("Name".to_string(), cluster.to_string()),
            ]),
        };
        self.0.set(
            &ResourceId::new(ResourceKind::IamRole, role),
            Some(Spec::IamRole(spec)),
        );
        self.0.put_inline_policy(
            role,
            role,
            stsform::iam_policy::canonicalize(&serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]
            })),
        );
    }

    async fn create_tagged_bucket(&self, bucket: &str, tags: &Tags) {
        let b = BucketSpec {
            name: bucket.into(),
            region: "us-east-2".into(),
            tags: tags.clone(),
            public_access_block: PublicAccessBlock {
                block_public_acls: false,
                ignore_public_acls: false,
                block_public_policy: false,
                restrict_public_buckets: false,
            },
            policy: Some(serde_json::Value::Null),
        };
        self.0.set(
            &ResourceId::new(ResourceKind::S3Bucket, bucket),
            Some(Spec::S3Bucket(b)),
        );
    }

    async fn attach_managed_policy(&self, role: &str) -> String {
        let arn = format!("arn:aws:iam::{ACCOUNT_ID}:policy/{role}-extra");
        self.0.attach_role_policy(role, &arn);
        arn
    }

    async fn role_documents(&self, role: &str) -> Option<RoleDocuments> {
        let all = self.0.snapshot();
        let Some(Spec::IamRole(r)) = all.get(&ResourceId::new(ResourceKind::IamRole, role)) else {
            return None;
        };
        let inline = all
            .values()
            .filter_map(|s| match s {
                Spec::IamRolePolicy(p) if p.role == role => {
                    Some((p.name.clone(), p.document.to_string()))
                }
                _ => None,
            })
            .collect();
        Some(RoleDocuments {
            trust: r.trust_policy.to_string(),
            description: r.description.clone(),
            inline,
        })
    }

    async fn tags_of(&self, what: &str) -> Tags {
        let (kind, name) = what.split_once(':').unwrap();
        let kind = match kind {
            "bucket" => ResourceKind::S3Bucket,
            "object" => ResourceKind::S3Object,
            "provider" => ResourceKind::IamOidcProvider,
            "role" => ResourceKind::IamRole,
            other => panic!("no tags for {other}"),
        };
        match self.get(kind, name) {
            Spec::S3Bucket(b) => b.tags,
            Spec::S3Object(o) => o.tags,
            Spec::IamOidcProvider(p) => p.tags,
            Spec::IamRole(r) => r.tags,
            other => panic!("no tags on {other:?}"),
        }
    }

    async fn cloudfront_of(&self, name: &str) -> CloudFrontView {
        let bucket = format!("{name}-oidc");
        let all = self.0.snapshot();
        let distribution = match all.get(&ResourceId::new(
            ResourceKind::CloudFrontDistribution,
            &bucket,
        )) {
            Some(Spec::CloudFrontDistribution(d)) => Some(DistributionView {
                id: d.id.clone(),
                arn: d.arn.clone(),
                domain: d.domain_name.clone(),
                enabled: d.enabled,
                viewer_protocol_policy: d.viewer_protocol_policy.clone(),
                origin_domain: d.origin_domain.clone(),
                origin_oac: Some(d.origin_access_control_id.clone()),
                tags: d.tags.clone(),
            }),
            _ => None,
        };
        let oac = match all.get(&ResourceId::new(
            ResourceKind::CloudFrontOriginAccessControl,
            &bucket,
        )) {
            Some(Spec::CloudFrontOriginAccessControl(o)) => {
                Some((o.id.clone(), o.description.clone()))
            }
            _ => None,
        };
        CloudFrontView { distribution, oac }
    }

    async fn drift_distribution(&self, name: &str, move_origin: bool) {
        let id = ResourceId::new(ResourceKind::CloudFrontDistribution, format!("{name}-oidc"));
        let Spec::CloudFrontDistribution(mut d) = self.0.snapshot()[&id].clone() else {
            unreachable!()
        };
        d.enabled = false;
        d.viewer_protocol_policy = "allow-all".into();
        if move_origin {
            d.origin_domain = "someone-else.s3.us-east-2.amazonaws.com".into();
            d.origin_access_control_id = String::new();
            let oac_id = ResourceId::new(
                ResourceKind::CloudFrontOriginAccessControl,
                format!("{name}-oidc"),
            );
            let Spec::CloudFrontOriginAccessControl(mut oac) = self.0.snapshot()[&oac_id].clone()
            else {
                unreachable!()
            };
            oac.signing_behavior = "never".into();
            self.0
                .set(&oac_id, Some(Spec::CloudFrontOriginAccessControl(oac)));
        }
        self.0.set(&id, Some(Spec::CloudFrontDistribution(d)));
    }

    async fn bucket_access(&self, bucket: &str) -> ([bool; 4], Option<serde_json::Value>) {
        let Spec::S3Bucket(b) = self.get(ResourceKind::S3Bucket, bucket) else {
            unreachable!()
        };
        let p = b.public_access_block;
        // A private issuer's policy is its own resource in the fake, as in stsform.
        let policy = match self
            .0
            .snapshot()
            .get(&ResourceId::new(ResourceKind::S3BucketPolicy, bucket))
        {
            Some(Spec::S3BucketPolicy(policy)) => Some(policy.policy.clone()),
            _ => b.policy.filter(|p| !p.is_null()),
        };
        (
            [
                p.block_public_acls,
                p.ignore_public_acls,
                p.block_public_policy,
                p.restrict_public_buckets,
            ],
            policy,
        )
    }

    async fn object_text(&self, bucket: &str, key: &str) -> Option<String> {
        match self.0.snapshot().get(&ResourceId::new(
            ResourceKind::S3Object,
            format!("{bucket}/{key}"),
        )) {
            Some(Spec::S3Object(o)) => Some(o.content.clone()),
            _ => None,
        }
    }

    async fn record_requests(&self, _on: bool) {}

    /// The fake keeps what the provider sent: the distribution's spec as created.
    async fn sent_oac_link(&self, bucket: &str) -> Option<String> {
        match self.0.snapshot().get(&ResourceId::new(
            ResourceKind::CloudFrontDistribution,
            bucket,
        )) {
            Some(Spec::CloudFrontDistribution(d)) => Some(d.origin_access_control_id.clone()),
            _ => None,
        }
    }
}
