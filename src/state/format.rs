//! The state's on-disk format: TOML (`state/README.md` documents it), written in id order
//! so equal states give identical text, and read strictly, every error naming the file,
//! the resource and the field. Must not do I/O: the backends hand it text.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::model::inferred_scope;
use super::{LocalPaths, STATE_VERSION, Scope, State, StateError, StateResource};
use crate::resource::{ResourceId, ResourceKind, Spec};

impl State {
    /// The state as TOML. Equal states give identical text (resources in id order),
    /// so the file diffs cleanly under version control.
    pub fn to_toml(&self) -> String {
        self.to_toml_cached(&mut TomlCache::default())
    }

    /// [`State::to_toml`], serializing again only the resources that changed since the
    /// last call with the same `cache`; the text is the same byte for byte.
    ///
    /// Why: apply saves after every finished change, and serializing every resource
    /// again (each policy document escaped into TOML) made each save cost O(resources)
    /// in CPU; at 500 requests that was most of apply's CPU. A resource's text depends
    /// on nothing but the resource, so its `[[resources]]` block is kept and reused while
    /// the resource is equal to the one it was made from.
    pub fn to_toml_cached(&self, cache: &mut TomlCache) -> String {
        let header = self.header_out();
        if self.resources.is_empty() {
            // `resources = []`, as the format has always written an empty state.
            cache.blocks.clear();
            return toml::to_string(&StateDocOut {
                header,
                resources: Vec::new(),
            })
            .expect("state always serializes to TOML");
        }
        cache.blocks.retain(|id, _| self.resources.contains_key(id));
        let mut text = toml::to_string(&header).expect("state always serializes to TOML");
        for (id, resource) in &self.resources {
            let block = match cache.blocks.get(id) {
                Some((made_from, block)) if made_from == resource => block,
                _ => {
                    let block = toml::to_string(&BlockOut {
                        resources: [resource_out(id, resource)],
                    })
                    // Attributes hold no nulls (optional fields are skipped) and the
                    // serial stays far below i64::MAX, so this cannot fail for a state
                    // built from `Spec` values.
                    .expect("state always serializes to TOML");
                    cache.blocks.insert(id.clone(), (resource.clone(), block));
                    &cache.blocks[id].1
                }
            };
            // toml separates tables with one empty line.
            text.push('\n');
            text.push_str(block);
        }
        text
    }

    /// The top-level keys as written.
    fn header_out(&self) -> HeaderOut<'_> {
        let (idp, set) = match &self.scope {
            Some(Scope::Roles {
                identity_provider_arn,
                request_set,
            }) => (Some(identity_provider_arn.as_str()), request_set.as_deref()),
            _ => (None, None),
        };
        HeaderOut {
            version: STATE_VERSION,
            serial: self.serial,
            lineage: &self.lineage,
            cluster: &self.cluster,
            mode: self.scope.as_ref().map(Scope::mode),
            identity_provider_arn: idp,
            request_set: set,
        }
    }

    /// Parses a state file's text; `origin` (its path) is named in every error.
    ///
    /// Strict on purpose: unknown keys, a `kind` that disagrees with the id, duplicate ids
    /// and attributes the kind does not have are errors, because a state we misread
    /// turns into wrong creates and destroys.
    pub fn from_toml(text: &str, origin: &str) -> Result<State, StateError> {
        let parse_err = |message: String| StateError::Parse {
            path: PathBuf::from(origin),
            message,
        };
        let located = |e: toml::de::Error| {
            let at = e
                .span()
                .map(|span| line_column(text, span.start))
                .map(|(line, col)| format!("line {line}, column {col}: "))
                .unwrap_or_default();
            parse_err(format!("{at}{}", e.message().trim_end()))
        };

        // Check the version before the strict parse, so a file from a newer stsform
        // (which may have fields we do not know) says "newer", not "unknown field".
        let table: toml::Table = toml::from_str(text).map_err(located)?;
        match table.get("version") {
            Some(toml::Value::Integer(v)) if *v > i64::from(STATE_VERSION) => {
                return Err(StateError::NewerVersion {
                    path: PathBuf::from(origin),
                    found: *v as u64,
                    supported: STATE_VERSION,
                });
            }
            Some(toml::Value::Integer(v)) if *v < 1 => {
                return Err(parse_err(format!("version: unsupported version {v}")));
            }
            Some(toml::Value::Integer(_)) => {}
            Some(other) => {
                return Err(parse_err(format!(
                    "version: expected an integer, found {}",
                    other.type_str()
                )));
            }
            None => return Err(parse_err("missing field `version`".into())),
        }

        let doc: StateDocIn = toml::from_str(text).map_err(located)?;
        if doc.lineage.is_empty() {
            return Err(parse_err("lineage: must not be empty".into()));
        }
        if doc.cluster.is_empty() {
            return Err(parse_err("cluster: must not be empty".into()));
        }

        let mut resources = BTreeMap::new();
        for (i, r) in doc.resources.into_iter().enumerate() {
            let id: ResourceId =
                r.id.parse()
                    .map_err(|e| parse_err(format!("resources[{i}]: id: {e}")))?;
            let at = |field: &str, problem: String| {
                parse_err(format!("resources[{i}] ({id}): {field}: {problem}"))
            };
            let kind: ResourceKind = r.kind.parse().map_err(|e| at("kind", e))?;
            if kind != id.kind {
                return Err(at(
                    "kind",
                    format!("`{kind}` does not match the id's kind `{}`", id.kind),
                ));
            }
            let depends_on = r
                .depends_on
                .iter()
                .enumerate()
                .map(|(j, d)| d.parse().map_err(|e| at(&format!("depends_on[{j}]"), e)))
                .collect::<Result<Vec<ResourceId>, _>>()?;
            let input =
                serde_json::to_value(&r.attributes).map_err(|e| at("attributes", e.to_string()))?;
            let spec = Spec::from_attributes(kind, input.clone()).map_err(|e| {
                // `.` is the attributes table itself (a missing attribute).
                match e.path().to_string().as_str() {
                    "." => at("attributes", e.inner().to_string()),
                    path => at(&format!("attributes.{path}"), e.inner().to_string()),
                }
            })?;
            // The spec structs accept and drop unknown keys; refuse them here so a typo
            // in a hand-edited state is not silently forgotten on the next save.
            if let Some(path) = first_unknown_key(&input, &spec.attributes(), "attributes") {
                return Err(at(&path, "unknown field".into()));
            }
            let previous = resources.insert(id.clone(), StateResource { spec, depends_on });
            if previous.is_some() {
                return Err(at("id", "appears more than once".into()));
            }
        }

        let scope = match (doc.mode.as_deref(), doc.identity_provider_arn) {
            (Some("cluster"), None) if doc.request_set.is_none() => Some(Scope::Cluster),
            (Some("cluster"), _) => {
                return Err(parse_err(
                    "mode: a `cluster` state has no identity_provider_arn or request_set".into(),
                ));
            }
            (Some("roles"), Some(arn)) => Some(Scope::Roles {
                identity_provider_arn: arn,
                request_set: doc.request_set,
            }),
            (Some("roles"), None) => {
                return Err(parse_err(
                    "identity_provider_arn: missing (a `roles` state names the provider its roles trust)"
                        .into(),
                ));
            }
            (Some(other), _) => {
                return Err(parse_err(format!(
                    "mode: `{other}` is neither `cluster` nor `roles`"
                )));
            }
            (None, None) if doc.request_set.is_none() => inferred_scope(&resources),
            (None, _) => {
                return Err(parse_err(
                    "mode: missing (identity_provider_arn and request_set belong to a `roles` state)"
                        .into(),
                ));
            }
        };

        Ok(State {
            // Range-checked above: 1..=STATE_VERSION.
            version: doc.version as u32,
            serial: doc.serial,
            lineage: doc.lineage,
            cluster: doc.cluster,
            scope,
            resources,
            // Before version 3, paths were relative to the working directory of the run.
            local_paths: if doc.version < 3 {
                LocalPaths::WorkingDir
            } else {
                LocalPaths::SettingsBase
            },
        })
    }
}

/// The resources' `[[resources]]` blocks as last serialized, each with the resource it
/// was made from (see [`State::to_toml_cached`]). Holds no secret: the state holds none.
#[derive(Debug, Default)]
pub struct TomlCache {
    blocks: BTreeMap<ResourceId, (StateResource, String)>,
}

/// The state file's top-level keys as written.
#[derive(Serialize)]
struct HeaderOut<'a> {
    version: u32,
    serial: u64,
    lineage: &'a str,
    cluster: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity_provider_arn: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_set: Option<&'a str>,
}

/// The whole state file as written at once: an empty state (and, in the tests, the
/// reference the resources serialized one by one must match).
#[derive(Serialize)]
struct StateDocOut<'a> {
    #[serde(flatten)]
    header: HeaderOut<'a>,
    resources: Vec<ResourceDocOut>,
}

/// One resource's `[[resources]]` block.
#[derive(Serialize)]
struct BlockOut {
    resources: [ResourceDocOut; 1],
}

/// One resource as written: attributes keep the spec's field order (name first), which
/// reads better than the alphabetical order of a `toml::Table`.
#[derive(Serialize)]
struct ResourceDocOut {
    id: String,
    kind: &'static str,
    depends_on: Vec<String>,
    attributes: serde_json::Value,
}

fn resource_out(id: &ResourceId, r: &StateResource) -> ResourceDocOut {
    ResourceDocOut {
        id: id.to_string(),
        kind: id.kind.as_str(),
        depends_on: r.depends_on.iter().map(ToString::to_string).collect(),
        attributes: r.spec.attributes(),
    }
}

/// The state file as read. Ids and kinds stay strings here so that errors can name the
/// resource index and field instead of serde's generic message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StateDocIn {
    version: i64,
    serial: u64,
    lineage: String,
    cluster: String,
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    identity_provider_arn: Option<String>,
    #[serde(default)]
    request_set: Option<String>,
    #[serde(default)]
    resources: Vec<ResourceDocIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResourceDocIn {
    id: String,
    kind: String,
    #[serde(default)]
    depends_on: Vec<String>,
    attributes: toml::Table,
}

/// The first key path in `input` that `parsed` (the spec serialized again) does not have.
fn first_unknown_key(
    input: &serde_json::Value,
    parsed: &serde_json::Value,
    path: &str,
) -> Option<String> {
    let (serde_json::Value::Object(input), serde_json::Value::Object(parsed)) = (input, parsed)
    else {
        return None;
    };
    input.iter().find_map(|(key, value)| {
        let here = format!("{path}.{key}");
        match parsed.get(key) {
            None => Some(here),
            Some(p) => first_unknown_key(value, p, &here),
        }
    })
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{CLUSTER, full_state, one_role_text, parse, parse_err};
    use super::*;

    /// The whole document serialized at once, the way every state was written before
    /// resources were serialized one by one: the reference the cached text must match.
    fn at_once(state: &State) -> String {
        toml::to_string(&StateDocOut {
            header: state.header_out(),
            resources: state
                .resources
                .iter()
                .map(|(id, r)| resource_out(id, r))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn resources_serialized_one_by_one_and_reused_give_the_whole_document_byte_for_byte() {
        let mut cache = TomlCache::default();
        let mut state = full_state();
        state.scope = Some(Scope::Cluster);
        assert_eq!(state.to_toml_cached(&mut cache), at_once(&state));
        assert_eq!(cache.blocks.len(), state.resources.len());

        // A changed resource is serialized again; the others are reused as they were.
        let (id, changed) = state
            .resources
            .iter()
            .find(|(_, r)| matches!(r.spec, Spec::IamRole(_)))
            .map(|(id, r)| (id.clone(), r.clone()))
            .unwrap();
        let mut changed = changed;
        let Spec::IamRole(role) = &mut changed.spec else {
            unreachable!()
        };
        role.description = "changed \"quoted\"\n".into();
        state.resources.insert(id.clone(), changed);
        state.serial += 7;
        let text = state.to_toml_cached(&mut cache);
        assert_eq!(text, at_once(&state));
        assert!(text.contains("changed"), "{text}");
        assert_eq!(parse(&text).unwrap(), state);

        // Removed and added resources, another scope, then nothing at all.
        let first = state.resources.keys().next().unwrap().clone();
        let removed = state.resources.remove(&first).unwrap();
        assert_eq!(state.to_toml_cached(&mut cache), at_once(&state));
        assert!(
            !cache.blocks.contains_key(&first),
            "a removed resource is forgotten"
        );
        state.resources.insert(first, removed);
        state.scope = Some(Scope::Roles {
            identity_provider_arn: "arn:aws:iam::123456789012:oidc-provider/x".into(),
            request_set: Some("payments".into()),
        });
        assert_eq!(state.to_toml_cached(&mut cache), at_once(&state));
        state.resources.clear();
        let empty = state.to_toml_cached(&mut cache);
        assert_eq!(empty, at_once(&state));
        assert!(empty.contains("resources = []"), "{empty}");
        assert!(cache.blocks.is_empty());
    }

    #[test]
    fn every_kind_round_trips_and_output_is_deterministic() {
        let state = full_state();
        let kinds: std::collections::BTreeSet<_> =
            state.resources.values().map(|r| r.spec.kind()).collect();
        assert_eq!(kinds.len(), ResourceKind::ALL.len(), "a kind is missing");

        let text = state.to_toml();
        assert_eq!(parse(&text).unwrap(), state);
        assert_eq!(state.to_toml(), text);
        assert_eq!(parse(&text).unwrap().to_toml(), text);

        // Resources appear in id order, whatever order they were inserted in.
        // (The resource's own `id` follows its `[[resources]]` header; attributes named
        // `id`, a distribution's, come under `[resources.attributes]`.)
        let lines: Vec<&str> = text.lines().collect();
        let ids: Vec<&str> = lines
            .windows(2)
            .filter(|w| w[0] == "[[resources]]")
            .filter_map(|w| w[1].strip_prefix("id = \""))
            .map(|l| l.trim_end_matches('"'))
            .collect();
        let expected: Vec<String> = state.resources.keys().map(ToString::to_string).collect();
        assert_eq!(ids, expected);
        assert!(
            text.starts_with("version = 3\nserial = 3\nlineage = "),
            "{text}"
        );
        assert!(text.contains("\nmode = \"cluster\"\n"), "{text}");
        assert!(text.contains("[[resources]]\n"), "{text}");
        assert!(text.contains("[resources.attributes]\n"), "{text}");
    }

    #[test]
    fn state_never_contains_private_key_material() {
        let text = full_state().to_toml();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        // The key copy is recorded by the kid of its public half, nothing more.
        assert!(text.contains("private_key_copy"), "{text}");
    }

    #[test]
    fn load_rejects_a_newer_version_even_with_unknown_fields() {
        let text = one_role_text().replace("version = 3", "version = 4\nfuture_field = true");
        let err = parse(&text).unwrap_err();
        assert!(
            matches!(err, StateError::NewerVersion { found: 4, .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.starts_with("state/prod-east.toml: "), "{msg}");
        assert!(
            msg.contains("version 4") && msg.contains("up to version 3"),
            "{msg}"
        );
        assert!(msg.contains("written by a newer stsform"), "{msg}");
    }

    #[test]
    fn version_1_states_load_with_their_scope_inferred() {
        // A v1 whole-cluster state: it holds the issuer.
        let cluster = full_state()
            .to_toml()
            .replace("version = 3", "version = 1")
            .replace("mode = \"cluster\"\n", "");
        assert!(!cluster.contains("mode = \"cluster\""), "{cluster}");
        let state = parse(&cluster).unwrap();
        assert_eq!((state.version, state.scope), (1, Some(Scope::Cluster)));
        // A v1 day-2 state: roles only; the provider comes from their trust policies.
        let roles = one_role_text().replace("version = 3", "version = 1");
        let state = parse(&roles).unwrap();
        assert_eq!(
            state.scope,
            Some(Scope::Roles {
                identity_provider_arn:
                    "arn:aws:iam::123456789012:oidc-provider/prod-east-oidc.s3.us-east-2.amazonaws.com"
                        .into(),
                request_set: None,
            })
        );
        // Saved again, it is a version 3 file that says so.
        let text = state.to_toml();
        assert!(text.starts_with("version = 3\n"), "{text}");
        assert!(
            text.contains("mode = \"roles\"\nidentity_provider_arn = "),
            "{text}"
        );
        assert_eq!(parse(&text).unwrap().scope, state.scope);
        // An empty v1 state: nothing to infer from.
        let empty = State::new(CLUSTER)
            .to_toml()
            .replace("version = 3", "version = 1");
        assert_eq!(parse(&empty).unwrap().scope, None);
    }

    #[test]
    fn states_before_version_3_have_paths_from_the_working_directory() {
        let text = full_state().to_toml();
        assert_eq!(parse(&text).unwrap().local_paths, LocalPaths::SettingsBase);
        for old in ["version = 1", "version = 2"] {
            let state = parse(&text.replace("version = 3", old)).unwrap();
            assert_eq!(state.local_paths, LocalPaths::WorkingDir, "{old}");
        }
    }

    #[test]
    fn a_roles_scope_round_trips_and_bad_modes_are_refused() {
        let mut state = State::new(CLUSTER);
        state.scope = Some(Scope::Roles {
            identity_provider_arn: "arn:aws:iam::123456789012:oidc-provider/x".into(),
            request_set: Some("team-a".into()),
        });
        let text = state.to_toml();
        assert!(text.contains("request_set = \"team-a\""), "{text}");
        assert_eq!(parse(&text).unwrap(), state);
        let msg = parse_err(&text.replace("mode = \"roles\"", "mode = \"some\""));
        assert!(msg.contains("mode: `some` is neither"), "{msg}");
        let msg = parse_err(&text.replace("mode = \"roles\"", "mode = \"cluster\""));
        assert!(msg.contains("a `cluster` state has no"), "{msg}");
        let msg = parse_err(&text.replace("mode = \"roles\"\n", ""));
        assert!(msg.contains("mode: missing"), "{msg}");
        let msg = parse_err(&text.replace("identity_provider_arn = ", "x = "));
        assert!(msg.contains("unknown field `x`"), "{msg}");
    }

    #[test]
    fn parse_rejects_malformed_toml_naming_file_and_line() {
        let text = "version = 1\nserial = 0\nlineage = \"x\"\ncluster = \"c\n";
        let msg = parse_err(text);
        assert!(
            msg.starts_with("state/prod-east.toml: line 4, column "),
            "{msg}"
        );
        let msg = parse_err("");
        assert!(msg.contains("missing field `version`"), "{msg}");
        let msg = parse_err("version = \"1\"");
        assert!(msg.contains("version: expected an integer"), "{msg}");
    }

    #[test]
    fn parse_rejects_unknown_fields() {
        let text = one_role_text().replace("serial = 0\n", "serial = 0\nserials = 1\n");
        let msg = parse_err(&text);
        assert!(
            msg.contains("line 3") && msg.contains("unknown field `serials`"),
            "{msg}"
        );

        let text = one_role_text().replace(
            "kind = \"iam_role\"\n",
            "kind = \"iam_role\"\nname = \"x\"\n",
        );
        let msg = parse_err(&text);
        assert!(msg.contains("unknown field `name`"), "{msg}");
    }

    #[test]
    fn parse_rejects_kind_that_disagrees_with_id() {
        let text = one_role_text().replace("kind = \"iam_role\"", "kind = \"s3_bucket\"");
        let msg = parse_err(&text);
        assert!(
            msg.contains("resources[0] (iam_role.prod-east-openshift-ingress-operator-cloud-credentials): kind: `s3_bucket` does not match"),
            "{msg}"
        );
        let text = one_role_text().replace("kind = \"iam_role\"", "kind = \"iam_thing\"");
        assert!(parse_err(&text).contains("kind: unknown resource kind `iam_thing`"));
    }

    #[test]
    fn parse_rejects_bad_attributes_for_the_kind() {
        // Missing field.
        let text = one_role_text().replace("arn = ", "not_arn = ");
        let msg = parse_err(&text);
        assert!(msg.contains("resources[0] (iam_role."), "{msg}");
        assert!(msg.contains("attributes: missing field `arn`"), "{msg}");
        // Unknown field the spec would silently drop.
        let text = one_role_text().replace("arn = ", "colour = \"blue\"\narn = ");
        assert!(parse_err(&text).contains("attributes.colour: unknown field"));
        // Wrong type, and a policy that is not JSON.
        let text = one_role_text().replace("name = \"prod", "name = 7\nx = \"prod");
        assert!(parse_err(&text).contains("attributes.name: invalid type: integer"));
        let text = one_role_text().replace("trust_policy = '{", "trust_policy = '{{");
        assert!(
            parse_err(&text).contains(
                "attributes.trust_policy: not a JSON policy document: key must be a string"
            )
        );
        // Attributes of another kind under this kind.
        let bucket = full_state()
            .resources
            .into_iter()
            .find(|(id, _)| id.kind == ResourceKind::S3Bucket)
            .unwrap();
        let mut state = State::new(CLUSTER);
        state.resources.insert(bucket.0, bucket.1);
        let text = state
            .to_toml()
            .replace("id = \"s3_bucket.", "id = \"iam_role.")
            .replace("kind = \"s3_bucket\"", "kind = \"iam_role\"");
        assert!(parse_err(&text).contains("attributes: missing field"));
    }

    #[test]
    fn parse_rejects_bad_ids_and_duplicates() {
        let text = one_role_text().replace("id = \"iam_role.", "id = \"iam_role");
        assert!(parse_err(&text).contains("resources[0]: id: "));
        let text = one_role_text().replace(
            "depends_on = [\"iam_oidc_provider.",
            "depends_on = [\"nonsense\", \"iam_oidc_provider.",
        );
        assert!(parse_err(&text).contains("depends_on[0]: `nonsense` is not a resource id"));
        let text = one_role_text();
        let resource = &text[text.find("[[resources]]").unwrap()..];
        let msg = parse_err(&format!("{text}\n{resource}"));
        assert!(msg.contains("resources[1] (iam_role.") && msg.contains("appears more than once"));
    }

    #[test]
    fn a_bad_policy_in_the_state_names_its_attribute() {
        let text = one_role_text();
        let start = text.find("trust_policy = ").unwrap();
        let end = start + text[start..].find('\n').unwrap();
        let bad = format!(
            "{}trust_policy = '{{not json'{}",
            &text[..start],
            &text[end..]
        );
        let msg = parse_err(&bad);
        assert!(
            msg.contains("attributes.trust_policy: not a JSON policy document: "),
            "{msg}"
        );
        // A missing attribute has no path of its own: the table is named.
        let start = text.find("description = ").unwrap();
        let end = start + text[start..].find('\n').unwrap() + 1;
        let msg = parse_err(&format!("{}{}", &text[..start], &text[end..]));
        assert!(
            msg.contains("attributes: missing field `description`"),
            "{msg}"
        );
    }
}
