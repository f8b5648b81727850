//! Synthetic CredentialsRequests shaped like OpenShift's, deterministic for a seed: the
//! benchmark's big clusters, and the tests' (a 500-request plan's Mermaid order).

use std::collections::BTreeSet;
use std::path::Path;

/// splitmix64: the synthetic requests are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

const SERVICES: &[&str] = &[
    "ec2",
    "s3",
    "iam",
    "kms",
    "elasticloadbalancing",
    "route53",
    "sts",
    "ecr",
    "tag",
    "servicequotas",
    "cloudwatch",
    "sqs",
];
const VERBS: &[&str] = &[
    "Describe", "Get", "List", "Create", "Delete", "Put", "Update", "Attach", "Detach", "Modify",
    "Tag", "Untag",
];
const NOUNS: &[&str] = &[
    "Instances",
    "Volumes",
    "Snapshots",
    "Tags",
    "Object",
    "Bucket",
    "Role",
    "Key",
    "Grant",
    "LoadBalancers",
    "TargetGroups",
    "HostedZones",
    "Images",
    "Subnets",
    "SecurityGroups",
    "Repository",
    "Queue",
    "Alarms",
    "Listeners",
    "Rules",
];

/// N CredentialsRequests shaped like OpenShift's: secretRef ns/name, 1–3 service
/// accounts, 2–3 statements of 5–25 actions, every third with a policyCondition.
pub fn synthetic_requests(dir: &Path, n: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = Rng(seed);
    for i in 0..n {
        let mut y = format!(
            "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata:\n  name: bench-{i}\n  namespace: openshift-cloud-credential-operator\nspec:\n  serviceAccountNames:\n"
        );
        for s in 0..rng.range(1, 3) {
            y.push_str(&format!("  - bench-{i}-sa-{s}\n"));
        }
        y.push_str(&format!(
            "  secretRef:\n    name: bench-{i}-credentials\n    namespace: openshift-bench-{i}\n  providerSpec:\n    apiVersion: cloudcredential.openshift.io/v1\n    kind: AWSProviderSpec\n    statementEntries:\n"
        ));
        for st in 0..rng.range(2, 3) {
            y.push_str("    - effect: Allow\n      action:\n");
            let mut actions = BTreeSet::new();
            let want = rng.range(5, 25) as usize;
            while actions.len() < want {
                let svc = SERVICES[rng.next() as usize % SERVICES.len()];
                let verb = VERBS[rng.next() as usize % VERBS.len()];
                let noun = NOUNS[rng.next() as usize % NOUNS.len()];
                actions.insert(format!("{svc}:{verb}{noun}"));
            }
            for a in actions {
                y.push_str(&format!("      - {a}\n"));
            }
            y.push_str("      resource: \"*\"\n");
            if (i + st as usize).is_multiple_of(3) {
                y.push_str(
                    "      policyCondition:\n        \"Bool\":\n          \"kms:GrantIsForAWSResource\": true\n",
                );
            }
        }
        std::fs::write(
            dir.join(format!("{i:04}-bench-credentials-request.yaml")),
            y,
        )
        .unwrap();
    }
}
