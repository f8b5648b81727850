//! `listing`: names of what exists (roles by name prefix, OIDC providers, a bucket's
//! objects, a role's policies), every page, for discovery and for emptying roles.
//!
//! Names only: attributes come from `read`. A listing of something that is gone (a bucket,
//! a role) is empty, not an error.

use super::{AwsProvider, api_error, is};
use crate::provider::{Listing, ProviderResult};

/// Roles per ListRoles page (IAM's maximum): fewer pages in accounts with many roles.
const ROLES_PER_PAGE: i32 = 1000;

impl AwsProvider {
    pub(super) async fn list_names(&self, listing: &Listing) -> ProviderResult<Vec<String>> {
        let id = listing.id();
        let mut names = Vec::new();
        match listing {
            Listing::Roles { prefix } => {
                // IAM has no name filter (PathPrefix filters paths, and every ccoctl role
                // is at `/`), so the pages are filtered here; only the names that match
                // are read further by the caller.
                let mut marker = None;
                loop {
                    let page = self
                        .call(
                            "ListRoles",
                            self.iam
                                .list_roles()
                                .max_items(ROLES_PER_PAGE)
                                .set_marker(marker)
                                .send(),
                        )
                        .await
                        .map_err(|e| api_error(&id, "ListRoles", &e))?;
                    names.extend(
                        page.roles()
                            .iter()
                            .map(|r| r.role_name())
                            .filter(|n| n.starts_with(prefix.as_str()))
                            .map(str::to_string),
                    );
                    marker = page.marker().map(str::to_string);
                    if !page.is_truncated() || marker.is_none() {
                        break;
                    }
                }
            }
            Listing::OidcProviders => {
                let out = self
                    .call(
                        "ListOpenIDConnectProviders",
                        self.iam.list_open_id_connect_providers().send(),
                    )
                    .await
                    .map_err(|e| api_error(&id, "ListOpenIDConnectProviders", &e))?;
                names.extend(
                    out.open_id_connect_provider_list()
                        .iter()
                        .filter_map(|p| p.arn())
                        .map(str::to_string),
                );
            }
            Listing::Objects { bucket, region } => {
                let s3 = self.s3_in(region);
                let mut token: Option<String> = None;
                loop {
                    let page = match self
                        .call(
                            "ListObjectsV2",
                            s3.list_objects_v2()
                                .bucket(bucket)
                                .set_continuation_token(token.clone())
                                .send(),
                        )
                        .await
                    {
                        Ok(page) => page,
                        Err(e) if is(&e, &["NoSuchBucket"]) => break,
                        Err(e) => return Err(api_error(&id, "ListObjectsV2", &e)),
                    };
                    names.extend(
                        page.contents()
                            .iter()
                            .filter_map(|o| o.key())
                            .map(str::to_string),
                    );
                    token = page.next_continuation_token().map(str::to_string);
                    if !page.is_truncated().unwrap_or(false) || token.is_none() {
                        break;
                    }
                }
            }
            Listing::InlinePolicies { role } => {
                let mut marker = None;
                loop {
                    let page = match self
                        .call(
                            "ListRolePolicies",
                            self.iam
                                .list_role_policies()
                                .role_name(role)
                                .set_marker(marker)
                                .send(),
                        )
                        .await
                    {
                        Ok(page) => page,
                        Err(e) if is(&e, &["NoSuchEntity"]) => break,
                        Err(e) => return Err(api_error(&id, "ListRolePolicies", &e)),
                    };
                    names.extend(page.policy_names().iter().cloned());
                    marker = page.marker().map(str::to_string);
                    if !page.is_truncated() || marker.is_none() {
                        break;
                    }
                }
            }
            Listing::AttachedPolicies { role } => {
                let mut marker = None;
                loop {
                    let page = match self
                        .call(
                            "ListAttachedRolePolicies",
                            self.iam
                                .list_attached_role_policies()
                                .role_name(role)
                                .set_marker(marker)
                                .send(),
                        )
                        .await
                    {
                        Ok(page) => page,
                        Err(e) if is(&e, &["NoSuchEntity"]) => break,
                        Err(e) => return Err(api_error(&id, "ListAttachedRolePolicies", &e)),
                    };
                    names.extend(
                        page.attached_policies()
                            .iter()
                            .filter_map(|p| p.policy_arn())
                            .map(str::to_string),
                    );
                    marker = page.marker().map(str::to_string);
                    if !page.is_truncated() || marker.is_none() {
                        break;
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}
