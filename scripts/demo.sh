#!/usr/bin/env bash
# The main job on examples/: validate, then plan → apply → verify → plan (no changes) → destroy the
# cluster in examples/cluster against a local moto AWS emulator this script starts and
# stops itself. Works in a scratch directory, so the repository stays clean.
#
# Everything stsform prints is shown as it comes (stderr too): one full plan, the apply's
# progress, verify's table. Colour only on a terminal, and never with NO_COLOR set.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  bold=$'\033[1m' dim=$'\033[2m' red=$'\033[31m' off=$'\033[0m'
else
  bold="" dim="" red="" off=""
fi
say() { printf '%sdemo:%s %s\n' "$dim" "$off" "$*"; }
step() { printf '\n%s== %s%s\n%s$ %s%s\n' "$bold" "$1" "$off" "$dim" "${*:2}" "$off"; }
trap 'status=$?; [ "$status" = 0 ] || printf "\n%sdemo: failed (exit %s); the output above says why%s\n" "$red" "$status" "$off" >&2' EXIT

say "building stsform (cargo build; the first build compiles about 300 crates and takes a few minutes)"
cargo build --locked
bin="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/stsform"

. scripts/moto.sh
say "installing the moto AWS emulator into $MOTO_VENV (first run only, about 15 s)"
moto_install
work="$(mktemp -d "${TMPDIR:-/tmp}/stsform-demo.XXXXXX")"
moto_start
trap 'status=$?; moto_stop; rm -rf "$work"; [ "$status" = 0 ] || printf "\n%sdemo: failed (exit %s); the output above says why%s\n" "$red" "$status" "$off" >&2' EXIT
moto_env
say "moto $MOTO_VERSION on $AWS_ENDPOINT_URL (loopback only), scratch dir $work"
cd "$work"
cp -r "$OLDPWD/examples" examples
name=demo-cluster
common=(--name "$name" --region us-east-2 --credentials-requests-dir examples/cluster --output-dir install)

step "validate the cluster's requests" stsform validate --credentials-requests-dir examples/cluster
"$bin" validate --credentials-requests-dir examples/cluster

step "plan a new cluster (the whole plan: what a reviewer sees), saved for apply" \
  stsform plan "${common[@]}" --out demo.plan
"$bin" plan "${common[@]}" --out demo.plan

step "apply exactly the saved plan (it carries its settings; a one-line header, then the progress of each change)" \
  stsform apply demo.plan
"$bin" apply demo.plan

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
"$bin" verify "${common[@]}"

step "plan again: nothing to do" stsform plan "${common[@]}"
"$bin" plan "${common[@]}"

step "destroy it (the destroy plan is summed up here: its last lines)" \
  stsform destroy --name "$name" --region us-east-2 --auto-approve
"$bin" destroy --name "$name" --region us-east-2 --auto-approve | tail -n 3

step "what AWS holds after destroy" boto3: list buckets, objects, OIDC providers, roles
aws_inventory

step "plan after destroy: everything would be created again" stsform plan "${common[@]}"
"$bin" plan "${common[@]}" | grep '^Plan:'

echo
say "done; moto stopped and $work removed."
