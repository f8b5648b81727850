//! private_issuer: what `--create-private-s3-bucket` adds to a cluster. Pure.
//!
//! Owns the CloudFront side of a private issuer: the Origin Access Control (OAC), the
//! distribution in front of the bucket, the bucket policy that admits only that
//! distribution, the issuer URL `https://<distribution domain>`, the partitions where
//! this works, and the *late values*: what AWS assigns only when the OAC and the
//! distribution are made (their ids, the distribution's domain). Until then a spec holds
//! a late token in their place (shown as "known after apply"); `fill` puts the real value
//! in once apply has it. Must not do I/O.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::iam_policy;
use crate::resource::{Tags, UNKNOWN};
use crate::settings::Region;

/// AWS's managed cache policy "CachingDisabled". The two documents are tiny and STS
/// fetches them rarely (it caches the JWKS itself), so caching at the edge saves nothing
/// worth having, while a cached `keys.json` would keep serving a rotated-out key set (the
/// managed "CachingOptimized" policy keeps objects for a day). ccoctl uses the same.
pub const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// Viewers must use HTTPS: STS fetches the issuer over HTTPS only, and nothing else
/// should be served in the clear under the issuer's name.
pub const VIEWER_PROTOCOL_POLICY: &str = "https-only";
/// The OAC signs for an S3 origin…
pub const OAC_ORIGIN_TYPE: &str = "s3";
/// …every request (what AWS recommends for S3 origins)…
pub const OAC_SIGNING_BEHAVIOR: &str = "always";
/// …with SigV4, the only protocol CloudFront offers.
pub const OAC_SIGNING_PROTOCOL: &str = "sigv4";
/// The service principal CloudFront reads S3 with under an OAC.
pub const CLOUDFRONT_PRINCIPAL: &str = "cloudfront.amazonaws.com";
/// Sid of the one statement of the bucket policy.
pub const POLICY_SID: &str = "AllowCloudFrontReadOfTheIssuerDocuments";

/// A value AWS assigns when a resource is made, which other resources need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Late {
    /// The OAC's id (the distribution's origin names it).
    OacId,
    /// The distribution's id (its ARN, which the bucket policy names, ends with it).
    DistributionId,
    /// The distribution's domain (`d111111abcdef8.cloudfront.net`): the issuer's host.
    DistributionDomain,
}

impl Late {
    /// Every late value.
    pub const ALL: [Late; 3] = [Late::OacId, Late::DistributionId, Late::DistributionDomain];

    /// What a spec holds until the value is known. Each token starts like [`UNKNOWN`]
    /// (without its closing parenthesis), so a reader sees "known after apply" and
    /// `contains_unknown` finds it, and each names its value, so `fill` knows which
    /// value goes where. None contains another, and none needs escaping in JSON.
    pub const fn token(self) -> &'static str {
        match self {
            Late::OacId => "(known after apply: origin access control id)",
            Late::DistributionId => "(known after apply: distribution id)",
            Late::DistributionDomain => "(known after apply: distribution domain)",
        }
    }
}

/// The common beginning of [`UNKNOWN`] and of every late token.
pub const UNKNOWN_PREFIX: &str = "(known after apply";

/// Whether `text` holds a value only known after apply (plain or late).
pub fn contains_unknown(text: &str) -> bool {
    text.contains(UNKNOWN_PREFIX)
}

/// The late values `text` waits for.
pub fn late_in(text: &str) -> Vec<Late> {
    Late::ALL
        .into_iter()
        .filter(|l| text.contains(l.token()))
        .collect()
}

/// `text` with every late token whose value is in `values` replaced by that value.
pub fn fill(text: &str, values: &[(Late, String)]) -> String {
    let mut text = text.to_string();
    for (late, value) in values {
        if text.contains(late.token()) {
            text = text.replace(late.token(), value);
        }
    }
    text
}

/// Why a partition cannot have a private issuer, or `Ok` if it can.
///
/// The issuer is `https://<distribution domain>`, so it needs CloudFront serving a
/// distribution under its own domain and reading the bucket through an OAC. In AWS
/// GovCloud (US) there is no CloudFront. In the China regions CloudFront serves content
/// only under an ICP-recorded alternate domain name, never under the distribution's own
/// `*.cloudfront.cn` name, so the issuer URL this mode derives would serve nothing.
pub fn check_partition(region: &Region) -> Result<(), String> {
    match region.partition {
        "aws" => Ok(()),
        "aws-us-gov" => Err(format!(
            "--create-private-s3-bucket: region {} is in AWS GovCloud (US), which has no \
             CloudFront; a private issuer there is not supported. Use a public bucket (drop \
             the flag) or a commercial region",
            region.name
        )),
        "aws-cn" => Err(format!(
            "--create-private-s3-bucket: region {} is in the AWS China regions, where CloudFront \
             serves content only under an ICP-recorded alternate domain name, not under the \
             distribution's own domain that this mode makes the issuer; a private issuer there \
             is not supported. Use a public bucket (drop the flag)",
            region.name
        )),
        other => Err(format!(
            "--create-private-s3-bucket: partition {other} (region {}) is not known to offer \
             CloudFront with origin access control; a private issuer there is not supported",
            region.name
        )),
    }
}

/// The bucket's regional REST endpoint, which the distribution's origin names
/// (`<bucket>.s3.<region>.<dns suffix>`, as AWS recommends for origins with an OAC).
pub fn origin_domain(bucket: &str, region: &Region) -> String {
    format!("{bucket}.s3.{}.{}", region.name, region.dns_suffix)
}

/// The issuer URL served by a distribution.
pub fn issuer_url(distribution_domain: &str) -> String {
    format!("https://{distribution_domain}")
}

/// A distribution's ARN. CloudFront is global: the ARN has no region. Without the
/// account (an offline plan with nothing recorded) the whole ARN is [`UNKNOWN`].
pub fn distribution_arn(partition: &str, account: Option<&str>, id: &str) -> String {
    match account {
        Some(account) => format!("arn:{partition}:cloudfront::{account}:distribution/{id}"),
        None => UNKNOWN.to_string(),
    }
}

/// The bucket policy of a private issuer: CloudFront (`cloudfront.amazonaws.com`) may
/// `s3:GetObject` the two issuer documents, and only on behalf of this distribution
/// (`AWS:SourceArn`). Nothing else is granted: with every public-access switch on, no
/// one reads the bucket but its account and this distribution. This is the policy AWS
/// documents for an OAC, narrowed from `<bucket>/*` to the two objects.
pub fn bucket_policy(partition: &str, bucket: &str, objects: &[&str], distribution: &str) -> Value {
    let resources: Vec<String> = objects
        .iter()
        .map(|key| format!("arn:{partition}:s3:::{bucket}/{key}"))
        .collect();
    iam_policy::canonicalize(&json!({
        "Version": iam_policy::VERSION,
        "Statement": [{
            "Sid": POLICY_SID,
            "Effect": "Allow",
            "Principal": { "Service": CLOUDFRONT_PRINCIPAL },
            "Action": "s3:GetObject",
            "Resource": resources,
            "Condition": { "StringEquals": { "AWS:SourceArn": distribution } },
        }],
    }))
}

/// The CloudFront Origin Access Control: how the distribution signs its reads of the
/// bucket. OACs carry no tags; the description holds the cluster's ownership tag key, as
/// ccoctl's origin access identities carry it in their comment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginAccessControlSpec {
    /// Name, unique in the account (`<name>-oidc`, like the bucket).
    pub name: String,
    /// `openshift.io/cloud-credential-operator/<name>`: the ownership marker.
    pub description: String,
    /// `s3`.
    pub origin_type: String,
    /// `always`.
    pub signing_behavior: String,
    /// `sigv4`.
    pub signing_protocol: String,
    /// Id CloudFront assigned, or [`Late::OacId`]'s token before it exists.
    pub id: String,
}

/// The CloudFront distribution serving the bucket's two documents under its own domain.
/// Only the attributes stsform sets are here; the rest of the distribution's
/// configuration is left as CloudFront has it (updates change only these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionSpec {
    /// Id CloudFront assigned (or [`Late::DistributionId`]'s token).
    pub id: String,
    /// `arn:<partition>:cloudfront::<account>:distribution/<id>`.
    pub arn: String,
    /// `<random>.cloudfront.net` (or [`Late::DistributionDomain`]'s token): the issuer host.
    pub domain_name: String,
    /// `openshift.io/cloud-credential-operator/<name>` (as ccoctl writes it).
    pub comment: String,
    /// The bucket's regional endpoint: the origin of the default cache behaviour.
    pub origin_domain: String,
    /// The OAC that origin signs with (its id, or [`Late::OacId`]'s token).
    pub origin_access_control_id: String,
    /// Serving; `destroy` disables it before deleting it.
    pub enabled: bool,
    /// `https-only`.
    pub viewer_protocol_policy: String,
    /// The default cache behaviour's cache policy ([`CACHING_DISABLED`]).
    pub cache_policy_id: String,
    /// Ownership and user tags.
    pub tags: Tags,
}

/// The bucket policy of a private issuer, kept apart from the bucket because it names
/// the distribution, which is made after the bucket (its origin).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketPolicySpec {
    /// Bucket name.
    pub bucket: String,
    /// Bucket region.
    pub region: String,
    /// The policy (canonical JSON).
    #[serde(with = "crate::resource::json_string")]
    pub policy: Value,
}

/// What is known of a private issuer already made (from the state or AWS).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Known {
    /// The OAC's id.
    pub oac_id: Option<String>,
    /// The distribution's id and domain.
    pub distribution: Option<(String, String)>,
}

/// Names and settings a private issuer is derived from.
#[derive(Clone, Copy, Debug)]
pub struct Inputs<'a> {
    /// Bucket name (`<name>-oidc`).
    pub bucket: &'a str,
    /// The bucket's region.
    pub region: &'a Region,
    /// AWS account, if known.
    pub account: Option<&'a str>,
    /// `openshift.io/cloud-credential-operator/<name>`.
    pub ownership_key: &'a str,
    /// Tags of the distribution (ownership and user tags).
    pub tags: &'a Tags,
    /// Keys of the objects the distribution serves.
    pub objects: &'a [&'a str],
}

/// The resources a private issuer adds, and its issuer URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Private {
    /// The Origin Access Control.
    pub oac: OriginAccessControlSpec,
    /// The distribution.
    pub distribution: DistributionSpec,
    /// The bucket policy admitting only that distribution.
    pub bucket_policy: BucketPolicySpec,
    /// `https://<distribution domain>` (with the late token until it is known).
    pub issuer: String,
}

/// Derives the private issuer's resources; late tokens stand where `known` has nothing.
pub fn derive(inputs: Inputs<'_>, known: &Known) -> Private {
    let Inputs {
        bucket,
        region,
        account,
        ownership_key,
        tags,
        objects,
    } = inputs;
    let oac_id = known
        .oac_id
        .clone()
        .unwrap_or_else(|| Late::OacId.token().to_string());
    let (id, domain) = known.distribution.clone().unwrap_or_else(|| {
        (
            Late::DistributionId.token().to_string(),
            Late::DistributionDomain.token().to_string(),
        )
    });
    let arn = distribution_arn(region.partition, account, &id);
    Private {
        oac: OriginAccessControlSpec {
            name: bucket.to_string(),
            description: ownership_key.to_string(),
            origin_type: OAC_ORIGIN_TYPE.to_string(),
            signing_behavior: OAC_SIGNING_BEHAVIOR.to_string(),
            signing_protocol: OAC_SIGNING_PROTOCOL.to_string(),
            id: oac_id.clone(),
        },
        distribution: DistributionSpec {
            id,
            arn: arn.clone(),
            domain_name: domain.clone(),
            comment: ownership_key.to_string(),
            origin_domain: origin_domain(bucket, region),
            origin_access_control_id: oac_id,
            enabled: true,
            viewer_protocol_policy: VIEWER_PROTOCOL_POLICY.to_string(),
            cache_policy_id: CACHING_DISABLED.to_string(),
            tags: tags.clone(),
        },
        bucket_policy: BucketPolicySpec {
            bucket: bucket.to_string(),
            region: region.name.clone(),
            policy: bucket_policy(region.partition, bucket, objects, &arn),
        },
        issuer: issuer_url(&domain),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(name: &str) -> Region {
        Region::parse(name).unwrap()
    }

    const KEY: &str = "openshift.io/cloud-credential-operator/c1";
    const OBJECTS: [&str; 2] = [".well-known/openid-configuration", "keys.json"];

    fn inputs<'a>(region: &'a Region, tags: &'a Tags, account: Option<&'a str>) -> Inputs<'a> {
        Inputs {
            bucket: "c1-oidc",
            region,
            account,
            ownership_key: KEY,
            tags,
            objects: &OBJECTS,
        }
    }

    #[test]
    fn late_tokens_read_as_unknown_and_are_told_apart() {
        for late in Late::ALL {
            assert!(contains_unknown(late.token()), "{late:?}");
            assert!(late.token().starts_with(UNKNOWN_PREFIX));
            // A token never contains another, so filling one never damages another.
            for other in Late::ALL.into_iter().filter(|o| *o != late) {
                assert!(!late.token().contains(other.token()));
            }
            // Nothing in a token needs escaping in JSON or TOML strings.
            assert_eq!(
                serde_json::to_string(late.token()).unwrap(),
                format!("\"{}\"", late.token())
            );
        }
        assert!(contains_unknown(UNKNOWN));
        assert!(!contains_unknown("https://d111.cloudfront.net"));
    }

    #[test]
    fn an_unknown_issuer_leaves_tokens_that_fill_resolves_everywhere() {
        let r = region("us-east-2");
        let tags = Tags::from([(KEY.to_string(), "owned".to_string())]);
        let p = derive(inputs(&r, &tags, Some("123456789012")), &Known::default());
        assert_eq!(p.issuer, "https://(known after apply: distribution domain)");
        assert_eq!(p.oac.id, Late::OacId.token());
        assert_eq!(p.distribution.origin_access_control_id, Late::OacId.token());
        assert_eq!(
            p.distribution.arn,
            "arn:aws:cloudfront::123456789012:distribution/(known after apply: distribution id)"
        );
        let policy = p.bucket_policy.policy.to_string();
        assert_eq!(late_in(&policy), [Late::DistributionId]);

        let values = [
            (Late::DistributionId, "E2QWRUHAPOMQZL".to_string()),
            (
                Late::DistributionDomain,
                "d111111abcdef8.cloudfront.net".to_string(),
            ),
        ];
        let filled: Value = serde_json::from_str(&fill(&policy, &values)).unwrap();
        let known = derive(
            inputs(&r, &tags, Some("123456789012")),
            &Known {
                oac_id: Some("E1OAC".into()),
                distribution: Some((
                    "E2QWRUHAPOMQZL".into(),
                    "d111111abcdef8.cloudfront.net".into(),
                )),
            },
        );
        // Filling the tokens gives what derive gives once the values are known.
        assert_eq!(filled, known.bucket_policy.policy);
        assert_eq!(fill(&p.issuer, &values), known.issuer);
        assert_eq!(known.issuer, "https://d111111abcdef8.cloudfront.net");
        assert!(late_in(&fill(&p.issuer, &values)).is_empty());
        // A value not yet known stays a token.
        assert_eq!(fill(&p.oac.id, &values), Late::OacId.token());
    }

    #[test]
    fn the_bucket_policy_admits_only_cloudfront_for_this_distribution_and_two_objects() {
        let arn = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL";
        let p = bucket_policy("aws", "c1-oidc", &OBJECTS, arn);
        let statements = p["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1);
        let s = &statements[0];
        assert_eq!(s["Effect"], "Allow");
        assert_eq!(
            s["Principal"],
            json!({"Service": ["cloudfront.amazonaws.com"]})
        );
        assert_eq!(s["Action"], json!(["s3:GetObject"]));
        assert_eq!(
            s["Resource"],
            json!([
                "arn:aws:s3:::c1-oidc/.well-known/openid-configuration",
                "arn:aws:s3:::c1-oidc/keys.json"
            ])
        );
        assert_eq!(
            s["Condition"],
            json!({"StringEquals": {"AWS:SourceArn": [arn]}})
        );
        // No anonymous principal anywhere: the bucket stays private.
        assert!(!p.to_string().contains("\"*\""));
        // The form AWS documents (one resource pattern, scalar values) means the same
        // once narrowed the same way: canonical forms compare equal.
        let documented = iam_policy::parse_aws_document(&format!(
            r#"{{"Version":"2012-10-17","Statement":{{"Sid":"{POLICY_SID}","Effect":"Allow","Principal":{{"Service":"cloudfront.amazonaws.com"}},"Action":"s3:GetObject","Resource":["arn:aws:s3:::c1-oidc/keys.json","arn:aws:s3:::c1-oidc/.well-known/openid-configuration"],"Condition":{{"StringEquals":{{"AWS:SourceArn":"{arn}"}}}}}}}}"#
        ))
        .unwrap();
        assert_eq!(documented, p);
    }

    #[test]
    fn the_distribution_serves_the_regional_bucket_endpoint_over_https_only() {
        let r = region("eu-west-1");
        let tags = Tags::from([
            (KEY.to_string(), "owned".to_string()),
            ("Name".to_string(), "c1".to_string()),
        ]);
        let p = derive(
            inputs(&r, &tags, Some("123456789012")),
            &Known {
                oac_id: Some("E1OAC".into()),
                distribution: Some(("EDIST".into(), "d1.cloudfront.net".into())),
            },
        );
        let d = &p.distribution;
        assert_eq!(d.origin_domain, "c1-oidc.s3.eu-west-1.amazonaws.com");
        assert_eq!(d.origin_access_control_id, "E1OAC");
        assert_eq!(d.viewer_protocol_policy, "https-only");
        assert_eq!(d.cache_policy_id, CACHING_DISABLED);
        assert!(d.enabled);
        assert_eq!(d.tags, tags);
        assert_eq!(d.comment, KEY);
        assert_eq!(d.arn, "arn:aws:cloudfront::123456789012:distribution/EDIST");
        assert_eq!(
            (p.oac.name.as_str(), p.oac.description.as_str()),
            ("c1-oidc", KEY)
        );
        assert_eq!(
            (
                p.oac.origin_type.as_str(),
                p.oac.signing_behavior.as_str(),
                p.oac.signing_protocol.as_str()
            ),
            ("s3", "always", "sigv4")
        );
        assert_eq!(p.bucket_policy.region, "eu-west-1");
        // An offline plan with nothing recorded knows no account: the ARN is unknown.
        let offline = derive(inputs(&r, &tags, None), &Known::default());
        assert_eq!(offline.distribution.arn, UNKNOWN);
        assert!(contains_unknown(&offline.bucket_policy.policy.to_string()));
    }

    #[test]
    fn only_the_commercial_partition_has_a_private_issuer() {
        check_partition(&region("us-east-1")).unwrap();
        let gov = check_partition(&region("us-gov-west-1")).unwrap_err();
        assert!(
            gov.contains("--create-private-s3-bucket") && gov.contains("GovCloud"),
            "{gov}"
        );
        let cn = check_partition(&region("cn-north-1")).unwrap_err();
        assert!(cn.contains("China") && cn.contains("ICP"), "{cn}");
    }

    #[test]
    fn specs_round_trip_through_json() {
        let r = region("us-east-1");
        let tags = Tags::new();
        let p = derive(inputs(&r, &tags, Some("123456789012")), &Known::default());
        let policy = serde_json::to_value(&p.bucket_policy).unwrap();
        // Stored as JSON text, like every other policy in the state.
        assert!(policy["policy"].is_string());
        let back: BucketPolicySpec = serde_json::from_value(policy).unwrap();
        assert_eq!(back, p.bucket_policy);
        let d: DistributionSpec =
            serde_json::from_value(serde_json::to_value(&p.distribution).unwrap()).unwrap();
        assert_eq!(d, p.distribution);
        let o: OriginAccessControlSpec =
            serde_json::from_value(serde_json::to_value(&p.oac).unwrap()).unwrap();
        assert_eq!(o, p.oac);
    }
}
