//! graph::build: the order changes must run in, as a petgraph DAG. Pure.
//!
//! Owns the edge rule, written once: an edge `a → b` means "a must finish before b
//! starts". Creates, updates and replaces follow `depends_on` (dependency first);
//! deletes run the other way (dependent first), and the delete of a part (an object, a
//! bucket policy, an inline policy) runs before an update or replace of its container.
//! Reports cycles naming every member.
//! Must not run anything; `execute` walks the graph.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use crate::desired::Desired;
use crate::plan::{Action, Plan};
use crate::resource::ResourceId;

/// Changes (by index into `Plan::changes`) and the order between them.
#[derive(Clone, Debug)]
pub struct ChangeGraph {
    /// Node weight = index of the change in the plan.
    pub graph: DiGraph<usize, ()>,
}

/// A dependency cycle; the message names every member, sorted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("dependency cycle: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → "))]
pub struct Cycle(pub Vec<ResourceId>);

/// Builds the execution graph of a plan.
pub fn build(plan: &Plan) -> Result<ChangeGraph, Cycle> {
    let mut graph = DiGraph::new();
    let nodes: BTreeMap<&ResourceId, NodeIndex> = plan
        .changes
        .iter()
        .enumerate()
        .map(|(i, c)| (&c.id, graph.add_node(i)))
        .collect();
    for change in &plan.changes {
        let this = nodes[&change.id];
        // A part of a resource (a bucket's policy or object, a role's inline policy) that
        // goes away goes before its container changes: both may write the same slot (the
        // bucket's one policy, when a private issuer is made public again: the bucket
        // puts the anonymous-read policy, the CloudFront one is deleted), and a delete
        // after the put would remove what the put just set.
        if change.action == Action::Delete
            && let Some(container) = change.before.as_ref().and_then(|b| b.container())
            && let Some(&other) = nodes.get(&container)
            && matches!(
                plan.changes[graph[other]].action,
                Action::Update | Action::Replace
            )
        {
            graph.update_edge(this, other, ());
        }
        for dep in &change.depends_on {
            let Some(&other) = nodes.get(dep) else {
                continue; // the dependency is unchanged: nothing to wait for
            };
            let other_is_delete = plan.changes[graph[other]].action == Action::Delete;
            match (change.action, other_is_delete) {
                // A delete waits for the deletes of what depends on it (reverse order).
                (Action::Delete, true) => {
                    graph.update_edge(this, other, ());
                }
                // Something being made never waits for a delete of its dependency.
                (Action::Delete, false) | (_, true) => {}
                _ => {
                    graph.update_edge(other, this, ());
                }
            }
        }
    }
    check_acyclic(&graph, |i| plan.changes[i].id.clone())?;
    Ok(ChangeGraph { graph })
}

fn check_acyclic(
    graph: &DiGraph<usize, ()>,
    id_of: impl Fn(usize) -> ResourceId,
) -> Result<(), Cycle> {
    if toposort(graph, None).is_ok() {
        return Ok(());
    }
    let mut members: Vec<ResourceId> = tarjan_scc(graph)
        .into_iter()
        .find(|scc| scc.len() > 1 || graph.contains_edge(scc[0], scc[0]))
        .unwrap_or_default()
        .into_iter()
        .map(|n| id_of(graph[n]))
        .collect();
    members.sort();
    Err(Cycle(members))
}

/// The desired resources and their dependencies in Graphviz DOT, for `stsform graph`.
pub fn desired_dot(desired: &Desired) -> String {
    let mut out = String::from("digraph stsform {\n  rankdir = \"LR\";\n  node [shape = box];\n");
    for id in desired.resources.keys() {
        let _ = writeln!(out, "  {:?};", id.to_string());
    }
    for resource in desired.resources.values() {
        for dep in &resource.depends_on {
            // Arrows point from a dependency to what needs it: the order of creation.
            let _ = writeln!(
                out,
                "  {:?} -> {:?};",
                dep.to_string(),
                resource.id.to_string()
            );
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Change, Reason};
    use crate::resource::ResourceKind;

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
            source: None,
            state_rule: crate::plan::StateRule::of(kind, action),
            depends_on: deps.iter().map(|(k, n)| ResourceId::new(*k, *n)).collect(),
        }
    }

    fn order(plan: &Plan) -> Vec<String> {
        let g = build(plan).unwrap();
        toposort(&g.graph, None)
            .unwrap()
            .into_iter()
            .map(|n| plan.changes[g.graph[n]].id.to_string())
            .collect()
    }

    #[test]
    fn creates_follow_dependencies_and_deletes_reverse_them() {
        use ResourceKind::*;
        let create = Plan {
            changes: vec![
                change(IamRolePolicy, "r", Action::Create, &[(IamRole, "r")]),
                change(IamRole, "r", Action::Create, &[(IamOidcProvider, "p")]),
                change(IamOidcProvider, "p", Action::Create, &[]),
            ],
            ..Plan::default()
        };
        assert_eq!(
            order(&create),
            ["iam_oidc_provider.p", "iam_role.r", "iam_role_policy.r"]
        );
        let delete = Plan {
            changes: create
                .changes
                .iter()
                .map(|c| Change {
                    action: Action::Delete,
                    ..c.clone()
                })
                .collect(),
            ..Plan::default()
        };
        assert_eq!(
            order(&delete),
            ["iam_role_policy.r", "iam_role.r", "iam_oidc_provider.p"]
        );
    }

    #[test]
    fn a_part_goes_before_its_container_changes() {
        use crate::resource::{BucketPolicySpec, Spec};
        use ResourceKind::*;
        // A private issuer made public: the bucket's update puts the anonymous-read
        // policy, the CloudFront policy (a resource of its own) is deleted, and the
        // distribution it names too. The policy's delete must not come after the put.
        let mut policy = change(
            S3BucketPolicy,
            "c-oidc",
            Action::Delete,
            &[(S3Bucket, "c-oidc"), (CloudFrontDistribution, "c-oidc")],
        );
        policy.before = Some(Spec::S3BucketPolicy(BucketPolicySpec {
            bucket: "c-oidc".into(),
            region: "us-east-1".into(),
            policy: serde_json::json!({}),
        }));
        let plan = Plan {
            changes: vec![
                change(S3Bucket, "c-oidc", Action::Update, &[]),
                change(
                    CloudFrontDistribution,
                    "c-oidc",
                    Action::Delete,
                    &[(S3Bucket, "c-oidc")],
                ),
                policy.clone(),
            ],
            ..Plan::default()
        };
        let g = build(&plan).unwrap();
        let node = |i: usize| g.graph.node_indices().find(|n| g.graph[*n] == i).unwrap();
        assert!(
            g.graph.contains_edge(node(2), node(0)),
            "policy before bucket"
        );
        assert!(
            g.graph.contains_edge(node(2), node(1)),
            "policy before distribution"
        );
        // Only the container: the distribution's delete does not hold the bucket back.
        assert!(!petgraph::algo::has_path_connecting(
            &g.graph,
            node(1),
            node(0),
            None
        ));
        // A created container (nothing to overwrite) and a created part: no such edge.
        for action in [Action::Create, Action::Delete] {
            let plan = Plan {
                changes: vec![change(S3Bucket, "c-oidc", action, &[]), policy.clone()],
                ..Plan::default()
            };
            let g = build(&plan).unwrap();
            let edges = g.graph.edge_count();
            // Deletes: the part before its container (the usual reverse order) only.
            assert_eq!(edges, usize::from(action == Action::Delete), "{action:?}");
        }
    }

    #[test]
    fn cycles_name_every_member() {
        use ResourceKind::*;
        let plan = Plan {
            changes: vec![
                change(IamRole, "a", Action::Create, &[(IamRole, "b")]),
                change(IamRole, "b", Action::Create, &[(IamRole, "a")]),
                change(IamRole, "c", Action::Create, &[]),
            ],
            ..Plan::default()
        };
        let err = build(&plan).unwrap_err();
        assert_eq!(err.to_string(), "dependency cycle: iam_role.a → iam_role.b");
    }
}
