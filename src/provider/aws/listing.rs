//! `listing`: names of what exists (roles by name prefix, OIDC providers, a bucket's
//! objects, a role's policies, the distributions in front of a bucket, OACs by name),
//! every page, for discovery and for emptying roles and buckets.
//!
//! Names only: attributes come from `read`. A listing of something that is gone (a bucket,
//! a role) is empty, not an error. What a run lists of a role's policies is remembered
//! (and kept true by the run's own puts and deletes), so that deleting the role removes
//! them without listing them again; IAM's `DeleteConflict` tells when the memory is short.

use std::collections::BTreeSet;

use super::{AwsProvider, NO_SUCH_BUCKET, NO_SUCH_ENTITY, api_error, unless_gone};
use crate::pacing::Service;
use crate::provider::{Listing, ProviderResult};

/// What this run listed of a role's policies, as changed by its own calls since.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct RolePolicies {
    /// Inline policy names, if listed.
    pub(super) inline: Option<BTreeSet<String>>,
    /// Attached managed policy ARNs, if listed.
    pub(super) managed: Option<BTreeSet<String>>,
}

/// Roles per ListRoles page (IAM's maximum): fewer pages in accounts with many roles.
const ROLES_PER_PAGE: i32 = 1000;

/// IAM's next-page marker: only while the answer says it is truncated.
fn next_marker(truncated: bool, marker: Option<&str>) -> Option<String> {
    marker.filter(|_| truncated).map(str::to_string)
}

impl AwsProvider {
    pub(super) async fn list_names(&self, listing: &Listing) -> ProviderResult<Vec<String>> {
        let id = listing.id();
        let mut names = match listing {
            Listing::Roles { prefix } => {
                // IAM has no name filter (PathPrefix filters paths, and every ccoctl role
                // is at `/`), so the pages are filtered here; only the names that match
                // are read further by the caller.
                let pages = self
                    .every_page(Service::Iam, "ListRoles", |marker| async {
                        let page = self
                            .iam
                            .list_roles()
                            .max_items(ROLES_PER_PAGE)
                            .set_marker(marker)
                            .send()
                            .await?;
                        let names = page
                            .roles()
                            .iter()
                            .map(|r| r.role_name())
                            .filter(|n| n.starts_with(prefix.as_str()))
                            .map(str::to_string)
                            .collect();
                        Ok((names, next_marker(page.is_truncated(), page.marker())))
                    })
                    .await;
                pages.map_err(|e| api_error(&id, "ListRoles", &e))?
            }
            Listing::OidcProviders => {
                // Not paginated: one call lists every provider.
                let out = self
                    .iam_call(
                        "ListOpenIDConnectProviders",
                        self.iam.list_open_id_connect_providers().send(),
                    )
                    .await
                    .map_err(|e| api_error(&id, "ListOpenIDConnectProviders", &e))?;
                out.open_id_connect_provider_list()
                    .iter()
                    .filter_map(|p| p.arn())
                    .map(str::to_string)
                    .collect()
            }
            Listing::Objects { bucket, region } => {
                let s3 = self.s3_in(region);
                let pages = self
                    .every_page(Service::S3, "ListObjectsV2", |token| async {
                        let page = s3
                            .list_objects_v2()
                            .bucket(bucket)
                            .set_continuation_token(token)
                            .send()
                            .await?;
                        let keys = page
                            .contents()
                            .iter()
                            .filter_map(|o| o.key())
                            .map(str::to_string)
                            .collect();
                        let next = page
                            .next_continuation_token()
                            .filter(|_| page.is_truncated().unwrap_or(false))
                            .map(str::to_string);
                        Ok((keys, next))
                    })
                    .await;
                unless_gone(&id, "ListObjectsV2", pages, NO_SUCH_BUCKET)?.unwrap_or_default()
            }
            Listing::InlinePolicies { role } => {
                let pages = self
                    .every_page(Service::Iam, "ListRolePolicies", |marker| async {
                        let page = self
                            .iam
                            .list_role_policies()
                            .role_name(role)
                            .set_marker(marker)
                            .send()
                            .await?;
                        let names = page.policy_names().to_vec();
                        Ok((names, next_marker(page.is_truncated(), page.marker())))
                    })
                    .await;
                unless_gone(&id, "ListRolePolicies", pages, NO_SUCH_ENTITY)?.unwrap_or_default()
            }
            Listing::AttachedPolicies { role } => {
                let pages = self
                    .every_page(Service::Iam, "ListAttachedRolePolicies", |marker| async {
                        let page = self
                            .iam
                            .list_attached_role_policies()
                            .role_name(role)
                            .set_marker(marker)
                            .send()
                            .await?;
                        let arns = page
                            .attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn())
                            .map(str::to_string)
                            .collect();
                        Ok((arns, next_marker(page.is_truncated(), page.marker())))
                    })
                    .await;
                unless_gone(&id, "ListAttachedRolePolicies", pages, NO_SUCH_ENTITY)?
                    .unwrap_or_default()
            }
            Listing::Distributions { origin_domain } => {
                // ccoctl reads the tags of every distribution in the account; the
                // summaries name the origins, so only the bucket's distributions are kept.
                let pages = self
                    .every_page(Service::CloudFront, "ListDistributions", |marker| async {
                        let page = self
                            .cloudfront
                            .list_distributions()
                            .set_marker(marker)
                            .send()
                            .await?;
                        let Some(list) = page.distribution_list() else {
                            return Ok((Vec::new(), None));
                        };
                        let ids = list
                            .items()
                            .iter()
                            .filter(|d| {
                                d.origins().is_some_and(|o| {
                                    o.items().iter().any(|o| o.domain_name() == origin_domain)
                                })
                            })
                            .map(|d| d.id().to_string())
                            .collect();
                        Ok((ids, next_marker(list.is_truncated(), list.next_marker())))
                    })
                    .await;
                pages.map_err(|e| api_error(&id, "ListDistributions", &e))?
            }
            Listing::OriginAccessControls { name } => {
                let pages = self
                    .every_page(
                        Service::CloudFront,
                        "ListOriginAccessControls",
                        |marker| async {
                            let page = self
                                .cloudfront
                                .list_origin_access_controls()
                                .set_marker(marker)
                                .send()
                                .await?;
                            let Some(list) = page.origin_access_control_list() else {
                                return Ok((Vec::new(), None));
                            };
                            let ids = list
                                .items()
                                .iter()
                                .filter(|o| o.name() == name)
                                .map(|o| o.id().to_string())
                                .collect();
                            Ok((ids, next_marker(list.is_truncated(), list.next_marker())))
                        },
                    )
                    .await;
                pages.map_err(|e| api_error(&id, "ListOriginAccessControls", &e))?
            }
        };
        names.sort();
        names.dedup();
        match listing {
            Listing::InlinePolicies { role } => self.remember(role, |p| {
                p.inline = Some(names.iter().cloned().collect());
            }),
            Listing::AttachedPolicies { role } => self.remember(role, |p| {
                p.managed = Some(names.iter().cloned().collect());
            }),
            _ => {}
        }
        Ok(names)
    }

    /// Updates what this run knows of `role`'s policies.
    pub(super) fn remember(&self, role: &str, change: impl FnOnce(&mut RolePolicies)) {
        let mut known = self.role_policies.lock().expect("role policies lock");
        change(known.entry(role.to_string()).or_default());
    }

    /// What this run knows of `role`'s policies (nothing listed: nothing known).
    pub(super) fn known_policies(&self, role: &str) -> RolePolicies {
        let known = self.role_policies.lock().expect("role policies lock");
        known.get(role).cloned().unwrap_or_default()
    }

    /// Forgets `role` (deleted).
    pub(super) fn forget_role(&self, role: &str) {
        self.role_policies
            .lock()
            .expect("role policies lock")
            .remove(role);
    }
}
