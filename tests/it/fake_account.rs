//! The fake AWS account behind `Account`, for fast scenario runs.

use std::collections::BTreeSet;
use std::sync::Arc;

use stsform::keypair::PrivateKey;
use stsform::provider::fake::{FakeCloud, FakeProvider};
use stsform::resource::{
    BucketSpec, ObjectSpec, PublicAccessBlock, ResourceId, ResourceKind, RoleSpec, Spec,
};

use crate::harness::{ACCOUNT_ID, Account};

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
        self.0
            .snapshot()
            .into_iter()
            .filter(|(id, _)| id.name.starts_with(&prefix))
            .map(|(id, spec)| match spec {
                Spec::S3Bucket(b) => format!("bucket:{}", b.name),
                Spec::S3Object(o) => format!("object:{}/{}", o.bucket, o.key),
                Spec::IamOidcProvider(p) => {
                    format!("provider:{}", p.url.trim_start_matches("https://"))
                }
                Spec::IamRole(r) => format!("role:{}", r.name),
                Spec::IamRolePolicy(p) => format!("role_policy:{}/{}", p.role, p.name),
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
        b.policy = stsform::iam_policy::parse_aws_document(document).unwrap();
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
            policy: serde_json::Value::Null,
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
}
