//! Regions: the region → partition and DNS-suffix table every ARN and issuer URL is built
//! from, and the message for a region that is not in it (case-insensitive match, the
//! nearest names suggested).

/// An AWS region with the facts naming depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Region code (`us-east-2`).
    pub name: String,
    /// ARN partition (`aws`, `aws-cn`, `aws-us-gov`).
    pub partition: &'static str,
    /// DNS suffix of the partition (`amazonaws.com`, `amazonaws.com.cn`).
    pub dns_suffix: &'static str,
}

/// Regions stsform knows, by partition. A typo in `--region` is caught here instead of
/// producing an issuer URL nobody can reach.
const REGIONS: &[(&str, &[&str])] = &[
    (
        "aws",
        &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "mx-central-1",
            "sa-east-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
    ),
    ("aws-cn", &["cn-north-1", "cn-northwest-1"]),
    ("aws-us-gov", &["us-gov-east-1", "us-gov-west-1"]),
];

impl Region {
    /// Looks a region up; unknown names are an error listing the partitions' regions.
    pub fn parse(name: &str) -> Result<Region, String> {
        for (partition, names) in REGIONS {
            if names.contains(&name) {
                let dns_suffix = match *partition {
                    "aws-cn" => "amazonaws.com.cn",
                    _ => "amazonaws.com",
                };
                return Ok(Region {
                    name: name.to_string(),
                    partition,
                    dns_suffix,
                });
            }
        }
        Err(unknown_region(name))
    }
}

/// The error for a region stsform does not know, with the likeliest meant ones.
fn unknown_region(name: &str) -> String {
    let all = || REGIONS.iter().flat_map(|(_, names)| names.iter().copied());
    if name.trim().is_empty() {
        return "must not be empty: give an AWS region code such as `us-east-2`".into();
    }
    // Region codes are lowercase; `US-EAST-2` is a known region typed in capitals.
    if let Some(exact) = all().find(|r| r.eq_ignore_ascii_case(name.trim())) {
        return format!(
            "unknown region `{name}` (did you mean `{exact}`? region codes are lowercase)"
        );
    }
    let wanted = name.trim().to_ascii_lowercase();
    let mut close: Vec<(usize, &str)> = all()
        .map(|r| (edit_distance(&wanted, r), r))
        .filter(|(d, _)| *d <= 2)
        .collect();
    close.sort();
    let close: Vec<&str> = close.into_iter().take(3).map(|(_, r)| r).collect();
    match close.as_slice() {
        [] => format!("unknown region `{name}` (a region code such as `us-east-2`)"),
        [one] => format!("unknown region `{name}` (did you mean `{one}`?)"),
        many => format!(
            "unknown region `{name}` (did you mean one of: {}?)",
            many.join(", ")
        ),
    }
}

/// Levenshtein distance (region codes are short ASCII, so bytes will do).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_map_to_partitions_and_suffixes() {
        let r = Region::parse("us-east-2").unwrap();
        assert_eq!((r.partition, r.dns_suffix), ("aws", "amazonaws.com"));
        let r = Region::parse("cn-north-1").unwrap();
        assert_eq!((r.partition, r.dns_suffix), ("aws-cn", "amazonaws.com.cn"));
        let r = Region::parse("us-gov-west-1").unwrap();
        assert_eq!((r.partition, r.dns_suffix), ("aws-us-gov", "amazonaws.com"));
        let e = Region::parse("us-est-1").unwrap_err();
        assert!(
            e.starts_with("unknown region `us-est-1` (did you mean one of: us-east-1"),
            "{e}"
        );
    }

    #[test]
    fn region_errors_suggest_the_region_meant() {
        assert_eq!(
            Region::parse("US-EAST-2").unwrap_err(),
            "unknown region `US-EAST-2` (did you mean `us-east-2`? region codes are lowercase)"
        );
        assert_eq!(
            Region::parse("eu-wset-1").unwrap_err(),
            "unknown region `eu-wset-1` (did you mean `eu-west-1`?)"
        );
        // An empty region gets a short hint, not the list of every region.
        let e = Region::parse("").unwrap_err();
        assert_eq!(
            e,
            "must not be empty: give an AWS region code such as `us-east-2`"
        );
        assert_eq!(
            Region::parse("mars-1").unwrap_err(),
            "unknown region `mars-1` (a region code such as `us-east-2`)"
        );
    }
}
