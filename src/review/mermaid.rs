//! The order of a plan's changes (or of the desired resources) as a Mermaid flowchart,
//! which GitHub renders in Markdown.
//!
//! An arrow `a --> b` means "a finishes before b starts", the edge rule of `graph`. Up to
//! [`INDIVIDUAL_NODES`] nodes get one box each; a bigger diagram groups the nodes by kind
//! and action (`+ 500 × iam_role`), so a plan with hundreds of roles stays a handful of
//! boxes. Pure: text out, nothing decided.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::desired::Desired;
use crate::plan::{Action, Plan};
use crate::resource::{ResourceId, ResourceKind};

/// Most boxes drawn one per resource; past it, boxes are groups.
pub const INDIVIDUAL_NODES: usize = 40;

/// One box before grouping: a resource and what happens to it (`None`: just the resource).
struct Node<'a> {
    id: &'a ResourceId,
    action: Option<Action>,
}

/// The change graph of a plan (the order `graph::build` gives apply); `None` when the
/// plan changes nothing (or, which `apply` refuses, its changes form a cycle).
pub fn plan_diagram(plan: &Plan) -> Option<String> {
    if plan.changes.is_empty() {
        return None;
    }
    let graph = crate::graph::build(plan).ok()?;
    let nodes: Vec<Node<'_>> = plan
        .changes
        .iter()
        .map(|c| Node {
            id: &c.id,
            action: Some(c.action),
        })
        .collect();
    let edges: Vec<(usize, usize)> = graph
        .graph
        .edge_indices()
        .filter_map(|e| graph.graph.edge_endpoints(e))
        .map(|(a, b)| (graph.graph[a], graph.graph[b]))
        .collect();
    Some(render(&nodes, &edges))
}

/// The desired resources in the order they are made (a dependency before what needs it).
pub fn desired_diagram(desired: &Desired) -> String {
    let ids: Vec<&ResourceId> = desired.resources.keys().collect();
    let index: BTreeMap<&ResourceId, usize> =
        ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let nodes: Vec<Node<'_>> = ids.iter().map(|id| Node { id, action: None }).collect();
    let edges: Vec<(usize, usize)> = desired
        .resources
        .values()
        .flat_map(|r| {
            let to = index[&r.id];
            r.depends_on
                .iter()
                .filter_map(|d| index.get(d).map(|from| (*from, to)))
                .collect::<Vec<_>>()
        })
        .collect();
    render(&nodes, &edges)
}

fn symbol(action: Option<Action>) -> &'static str {
    match action {
        Some(Action::Create) => "+ ",
        Some(Action::Update) => "~ ",
        Some(Action::Delete) => "- ",
        Some(Action::Replace) => "-/+ ",
        None => "",
    }
}

fn class(action: Option<Action>) -> &'static str {
    match action {
        Some(Action::Create) => "create",
        Some(Action::Update) => "update",
        Some(Action::Delete) => "delete",
        Some(Action::Replace) => "replace",
        None => "resource",
    }
}

/// Colours readable in GitHub's light and dark themes (text colour set explicitly).
fn class_def(class: &str) -> &'static str {
    match class {
        "create" => "fill:#dafbe1,stroke:#1a7f37,color:#1f2328",
        "update" => "fill:#fff8c5,stroke:#9a6700,color:#1f2328",
        "delete" => "fill:#ffebe9,stroke:#cf222e,color:#1f2328",
        "replace" => "fill:#fbefff,stroke:#8250df,color:#1f2328",
        _ => "fill:#f6f8fa,stroke:#57606a,color:#1f2328",
    }
}

/// A label as Mermaid reads it inside `["…"]`: quotes, angle brackets, `#` and backticks
/// as entity codes, so no name can end the label, inject HTML or close a Markdown fence.
fn label(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Boxes and arrows: one box per node up to [`INDIVIDUAL_NODES`], else one per kind and
/// action, with the arrows between groups that any member has.
fn render(nodes: &[Node<'_>], edges: &[(usize, usize)]) -> String {
    // Group key → (box label, class); node index → box index.
    let grouped = nodes.len() > INDIVIDUAL_NODES;
    let mut groups: BTreeMap<(ResourceKind, Option<Action>), Vec<usize>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        groups
            .entry((node.id.kind, node.action))
            .or_default()
            .push(i);
    }
    let mut boxes: Vec<(String, &'static str)> = Vec::new();
    let mut box_of = vec![0usize; nodes.len()];
    if grouped {
        for ((kind, action), members) in &groups {
            let text = match members.as_slice() {
                [only] => format!("{}{}", symbol(*action), nodes[*only].id),
                many => format!("{}{} × {kind}", symbol(*action), many.len()),
            };
            for m in members {
                box_of[*m] = boxes.len();
            }
            boxes.push((text, class(*action)));
        }
    } else {
        // Kind order keeps related boxes together, whatever order the nodes came in.
        for members in groups.values() {
            for m in members {
                box_of[*m] = boxes.len();
                let node = &nodes[*m];
                boxes.push((
                    format!("{}{}", symbol(node.action), node.id),
                    class(node.action),
                ));
            }
        }
    }
    let arrows: BTreeSet<(usize, usize)> = edges
        .iter()
        .map(|(a, b)| (box_of[*a], box_of[*b]))
        .filter(|(a, b)| a != b)
        .collect();

    let mut out = String::from("flowchart LR\n");
    if grouped {
        let by = if nodes.iter().any(|n| n.action.is_some()) {
            "kind and action"
        } else {
            "kind"
        };
        let _ = writeln!(out, "  %% {} resources, grouped by {by}", nodes.len());
    }
    for (i, (text, class)) in boxes.iter().enumerate() {
        let _ = writeln!(out, "  n{i}[\"{}\"]:::{class}", label(text));
    }
    for (a, b) in &arrows {
        let _ = writeln!(out, "  n{a} --> n{b}");
    }
    let used: BTreeSet<&str> = boxes.iter().map(|(_, c)| *c).collect();
    for class in used {
        let _ = writeln!(out, "  classDef {class} {}", class_def(class));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Reason};

    fn change(
        kind: ResourceKind,
        name: &str,
        action: Action,
        deps: &[(ResourceKind, &str)],
    ) -> Change {
        Change {
            id: ResourceId::new(kind, name),
            action,
            reason: Reason::New,
            before: None,
            after: None,
            attributes: vec![],
            replace_because: vec![],
            depends_on: deps.iter().map(|(k, n)| ResourceId::new(*k, *n)).collect(),
            source: None,
            state_rule: crate::plan::StateRule::of(kind, action),
        }
    }

    fn diagram(plan: &Plan) -> String {
        plan_diagram(plan).unwrap()
    }

    #[test]
    fn a_small_plan_draws_one_box_per_change_in_kind_order() {
        use ResourceKind::*;
        let plan = Plan {
            changes: vec![
                change(File, "manifests/x.yaml", Action::Create, &[(IamRole, "r")]),
                change(IamOidcProvider, "h", Action::Create, &[]),
                change(IamRole, "r", Action::Update, &[(IamOidcProvider, "h")]),
                change(IamRole, "old", Action::Delete, &[(IamOidcProvider, "h")]),
                change(IamRolePolicy, "old", Action::Delete, &[(IamRole, "old")]),
            ],
            ..Plan::default()
        };
        assert_eq!(
            diagram(&plan),
            "flowchart LR\n\
             \x20 n0[\"+ iam_oidc_provider.h\"]:::create\n\
             \x20 n1[\"~ iam_role.r\"]:::update\n\
             \x20 n2[\"- iam_role.old\"]:::delete\n\
             \x20 n3[\"- iam_role_policy.old\"]:::delete\n\
             \x20 n4[\"+ file.manifests/x.yaml\"]:::create\n\
             \x20 n0 --> n1\n\
             \x20 n1 --> n4\n\
             \x20 n3 --> n2\n\
             \x20 classDef create fill:#dafbe1,stroke:#1a7f37,color:#1f2328\n\
             \x20 classDef delete fill:#ffebe9,stroke:#cf222e,color:#1f2328\n\
             \x20 classDef update fill:#fff8c5,stroke:#9a6700,color:#1f2328\n"
        );
        assert!(plan_diagram(&Plan::default()).is_none());
    }

    #[test]
    fn a_big_plan_groups_by_kind_and_action() {
        use ResourceKind::*;
        let mut changes = vec![change(IamOidcProvider, "h", Action::Create, &[])];
        let names: Vec<String> = (0..500).map(|i| format!("c-ns-{i:03}")).collect();
        for name in &names {
            changes.push(change(
                IamRole,
                name,
                Action::Create,
                &[(IamOidcProvider, "h")],
            ));
            changes.push(change(
                IamRolePolicy,
                name,
                Action::Create,
                &[(IamRole, name)],
            ));
        }
        changes.push(change(IamRole, "gone", Action::Delete, &[]));
        let plan = Plan {
            changes,
            ..Plan::default()
        };
        let text = diagram(&plan);
        assert_eq!(
            text,
            "flowchart LR\n\
             \x20 %% 1002 resources, grouped by kind and action\n\
             \x20 n0[\"+ iam_oidc_provider.h\"]:::create\n\
             \x20 n1[\"+ 500 × iam_role\"]:::create\n\
             \x20 n2[\"- iam_role.gone\"]:::delete\n\
             \x20 n3[\"+ 500 × iam_role_policy\"]:::create\n\
             \x20 n0 --> n1\n\
             \x20 n1 --> n3\n\
             \x20 classDef create fill:#dafbe1,stroke:#1a7f37,color:#1f2328\n\
             \x20 classDef delete fill:#ffebe9,stroke:#cf222e,color:#1f2328\n"
        );
    }

    #[test]
    fn labels_cannot_break_out() {
        assert_eq!(label("a\"b<c>#d`e\nf"), "a#quot;b#lt;c#gt;#35;d#96;e f");
    }

    #[test]
    fn the_desired_graph_has_no_symbols() {
        let settings = crate::settings::resolve(
            &crate::settings::SettingsInput {
                name: Some("c".into()),
                region: Some("us-east-2".into()),
                credentials_requests_dir: Some("creds".into()),
                config: Some(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("tests/fixtures/empty-stsform.toml"),
                ),
                ..Default::default()
            },
            crate::settings::Need::Cluster,
        )
        .unwrap();
        let desired = crate::desired::derive(&[], &settings, &Default::default()).unwrap();
        let text = desired_diagram(&desired);
        assert!(
            text.starts_with("flowchart LR\n  n0[\"key_pair.serviceaccount-signer\"]:::resource\n"),
            "{text}"
        );
        assert!(text.contains("classDef resource "), "{text}");
        // Every arrow of the desired graph is drawn: the key pair before the JWKS.
        let node = |name: &str| {
            let line = text.lines().find(|l| l.contains(name)).unwrap();
            line.trim().split('[').next().unwrap().to_string()
        };
        let (key, jwks) = (node("key_pair."), node("s3_object.c-oidc/keys.json"));
        assert!(text.contains(&format!("{key} --> {jwks}\n")), "{text}");
    }
}
