//! private_issuer: what `--create-private-s3-bucket` adds to a cluster. Pure.
//!
//! Owns the CloudFront side of a private issuer: the Origin Access Control (OAC), the
//! distribution in front of the bucket, the bucket policy that admits only that
//! distribution, the issuer URL `https://<distribution domain>`, and the partitions where
//! this works. What CloudFront assigns only when the OAC and the distribution are made
//! (their ids, the distribution's domain) is written as a [`Late`] token until a refresh
//! or apply knows it. Must not do I/O.

use serde_json::{Value, json};

use crate::iam_policy;
use crate::resource::{
    BucketPolicySpec, DistributionSpec, Late, OriginAccessControlSpec, Tags, UNKNOWN,
};
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
            "region {} is in AWS GovCloud (US), which has no \
             CloudFront; a private issuer there is not supported. Use a public bucket (drop \
             the flag) or a commercial region",
            region.name
        )),
        "aws-cn" => Err(format!(
            "region {} is in the AWS China regions, where CloudFront \
             serves content only under an ICP-recorded alternate domain name, not under the \
             distribution's own domain that this mode makes the issuer; a private issuer there \
             is not supported. Use a public bucket (drop the flag)",
            region.name
        )),
        other => Err(format!(
            "partition {other} (region {}) is not known to offer \
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
    use crate::resource::{contains_unknown, fill, late_in};

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
            // Not the plain marker: a late value is not what an offline plan lacks.
            assert!(!late.token().contains(UNKNOWN), "{late:?}");
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
            gov.contains("GovCloud") && gov.contains("no CloudFront"),
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
