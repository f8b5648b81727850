#!/usr/bin/env bash
# The main job on examples/: validate, then plan → apply → verify → plan (no changes) → destroy the
# cluster in examples/cluster against a local moto AWS emulator this script starts and
# stops itself. Works in a scratch directory, so the repository stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/moto.sh
moto_install
cargo build --locked --quiet
bin="$PWD/target/debug/stsform"
work="$(mktemp -d "${TMPDIR:-/tmp}/stsform-demo.XXXXXX")"
moto_start
trap 'moto_stop; rm -rf "$work"' EXIT
moto_env
echo "demo: moto $MOTO_VERSION on $AWS_ENDPOINT_URL (loopback only), scratch dir $work"
cd "$work"
cp -r "$OLDPWD/examples" examples
name=demo-cluster
common=(--name "$name" --region us-east-2 --credentials-requests-dir examples/cluster --output-dir install)

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; }

step "validate the cluster's requests" stsform validate --credentials-requests-dir examples/cluster
"$bin" validate --credentials-requests-dir examples/cluster 2>/dev/null

step "plan a new cluster" stsform plan "${common[@]}"
"$bin" plan "${common[@]}" 2>/dev/null | tail -n 3

step "apply it" stsform apply "${common[@]}" --auto-approve
"$bin" apply "${common[@]}" --auto-approve 2>/dev/null | tail -n 2

step "what the installer reads now" ls install/manifests install/tls
ls install/manifests install/tls
grep role_arn install/manifests/openshift-ingress-operator-cloud-credentials-credentials.yaml

step "what AWS holds (listed by the emulator's boto3, not by stsform)" boto3: list buckets, objects, OIDC providers, roles
aws_inventory() {
  "$MOTO_VENV/bin/python" - "$name" <<'PY'
import sys, boto3
name = sys.argv[1]
kw = dict(region_name="us-east-2")
s3, iam = boto3.client("s3", **kw), boto3.client("iam", **kw)
for b in s3.list_buckets()["Buckets"]:
    if b["Name"].startswith(name + "-"):
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])]
        print(f"bucket   {b['Name']}: {', '.join(keys)}")
for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
    if f"/{name}-" in p["Arn"]:
        print(f"provider {p['Arn']}")
roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(name + "-")]
for r in sorted(roles):
    print(f"role     {r}  (inline: {', '.join(iam.list_role_policies(RoleName=r)['PolicyNames'])})")
print(f"{len(roles)} roles")
PY
}
aws_inventory

step "verify the OIDC trust chain end to end" stsform verify "${common[@]}"
"$bin" verify "${common[@]}" 2>/dev/null

step "plan again: nothing to do" stsform plan "${common[@]}"
"$bin" plan "${common[@]}" 2>/dev/null

step "destroy it" stsform destroy --name "$name" --region us-east-2 --auto-approve
"$bin" destroy --name "$name" --region us-east-2 --auto-approve 2>/dev/null | tail -n 2

step "what AWS holds after destroy" boto3: list buckets, objects, OIDC providers, roles
aws_inventory

step "plan after destroy: everything would be created again" stsform plan "${common[@]}"
"$bin" plan "${common[@]}" 2>/dev/null | grep '^Plan:'

echo
echo "demo: done; moto stopped and $work removed."
