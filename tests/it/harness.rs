//! Scenario harness: one body runs against the fake provider and against AWS (moto).
//!
//! `Env` owns a scratch directory with the requests, the output dir and the state file,
//! and runs the same `workflow` code the CLI runs. `Account` is the test's own view of
//! AWS, used to make drift and to check what AWS holds, never through stsform's state.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use stsform::execute::{Controls, Outcome};
use stsform::progress::Recorder;
use stsform::provider::Provider;
use stsform::resource::Tags;
use stsform::safety::{Allow, Refusal};
use stsform::settings::{self, Need, Settings, SettingsInput};
use stsform::state::StateFile;
use stsform::workflow::{self, Inputs, Mode, Planned};

use crate::derive::root;

/// AWS as the test sees it.
pub trait Account: Clone + Send + Sync {
    /// The provider stsform uses, holding `key` for local writes.
    type P: Provider;
    /// A provider for one run.
    fn provider(
        &self,
        key: Option<stsform::keypair::PrivateKey>,
    ) -> impl std::future::Future<Output = Arc<Self::P>> + Send;
    /// Everything of cluster `name` that exists: `bucket:N`, `object:N/key`, `provider:host`,
    /// `role:R`, `role_policy:R/P`, found by listing AWS.
    fn inventory(&self, name: &str) -> impl std::future::Future<Output = BTreeSet<String>> + Send;
    /// Writes made through providers so far (0 for a read-only run).
    fn writes(&self) -> usize;
    /// Replaces a role's inline policy behind stsform's back.
    fn put_role_policy(
        &self,
        role: &str,
        document: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Deletes a role (and its inline policies) behind stsform's back.
    fn delete_role(&self, role: &str) -> impl std::future::Future<Output = ()> + Send;
    /// Replaces a bucket policy behind stsform's back.
    fn put_bucket_policy(
        &self,
        bucket: &str,
        document: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Removes a tag from a role behind stsform's back.
    fn untag_role(&self, role: &str, key: &str) -> impl std::future::Future<Output = ()> + Send;
    /// Creates a role stsform does not own.
    fn create_foreign_role(&self, role: &str) -> impl std::future::Future<Output = ()> + Send;
    /// Makes the next creation of `role` fail (an injected fault or a name clash).
    fn fail_next_role_create(&self, role: &str) -> impl std::future::Future<Output = ()> + Send;
    /// Undoes `fail_next_role_create`.
    fn heal(&self, role: &str) -> impl std::future::Future<Output = ()> + Send;
    /// Creates a bucket and an object stsform does not own.
    fn create_foreign_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Creates a role as ccoctl would for `cluster` (ownership tags, an inline policy
    /// named like the role), with a trust policy for EC2, behind stsform's back.
    fn create_tagged_role(
        &self,
        role: &str,
        cluster: &str,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Creates a bucket carrying `tags` (in us-east-2), behind stsform's back.
    fn create_tagged_bucket(
        &self,
        bucket: &str,
        tags: &Tags,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// Attaches a managed policy to a role behind stsform's back; returns its ARN.
    fn attach_managed_policy(&self, role: &str)
    -> impl std::future::Future<Output = String> + Send;
    /// A role's trust policy, description and inline policies as AWS returns them.
    fn role_documents(
        &self,
        role: &str,
    ) -> impl std::future::Future<Output = Option<RoleDocuments>> + Send;
    /// The tags AWS holds for `bucket:N`, `object:N/key`, `provider:HOST` or `role:R`.
    fn tags_of(&self, what: &str) -> impl std::future::Future<Output = Tags> + Send;
    /// Cluster `name`'s private issuer as CloudFront returns it: the distribution whose
    /// origin is its bucket, and the OAC named like the bucket.
    fn cloudfront_of(&self, name: &str)
    -> impl std::future::Future<Output = CloudFrontView> + Send;
    /// Changes cluster `name`'s distribution behind stsform's back: disabled, viewers
    /// allowed plain HTTP, and (`move_origin`) its origin another bucket without the OAC,
    /// and the OAC signing nothing.
    fn drift_distribution(
        &self,
        name: &str,
        move_origin: bool,
    ) -> impl std::future::Future<Output = ()> + Send;
    /// A bucket's public-access block (block ACLs, ignore ACLs, block policy, restrict
    /// buckets) and policy as S3 holds them.
    fn bucket_access(
        &self,
        bucket: &str,
    ) -> impl std::future::Future<Output = ([bool; 4], Option<serde_json::Value>)> + Send;
    /// An object's body as S3 holds it.
    fn object_text(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl std::future::Future<Output = Option<String>> + Send;
    /// Starts afresh (or stops) keeping what providers send AWS (moto: its request
    /// recorder, emptied on start).
    fn record_requests(&self, on: bool) -> impl std::future::Future<Output = ()> + Send;
    /// The `OriginAccessControlId` the provider last sent for the origin of the
    /// distribution in front of `bucket`, when it made or updated it (read back from what
    /// was sent, not from CloudFront: the emulator does not keep it).
    fn sent_oac_link(
        &self,
        bucket: &str,
    ) -> impl std::future::Future<Output = Option<String>> + Send;
}

/// A private issuer as CloudFront returns it (see [`Account::cloudfront_of`]).
#[derive(Clone, Debug, Default)]
pub struct CloudFrontView {
    pub distribution: Option<DistributionView>,
    /// The OAC's id and description.
    pub oac: Option<(String, String)>,
}

/// A distribution as CloudFront returns it.
#[derive(Clone, Debug)]
pub struct DistributionView {
    pub id: String,
    pub arn: String,
    pub domain: String,
    pub enabled: bool,
    pub viewer_protocol_policy: String,
    pub origin_domain: String,
    /// `None`: the answer does not say (the emulator does not keep it).
    pub origin_oac: Option<String>,
    pub tags: Tags,
}

/// A role as AWS returns it, documents as text (IAM's may be URL-encoded).
#[derive(Clone, Debug)]
pub struct RoleDocuments {
    pub trust: String,
    pub description: String,
    /// Inline policy name → document.
    pub inline: std::collections::BTreeMap<String, String>,
}

/// A scratch cluster: requests, output dir and state in a temp dir.
pub struct Env<A: Account> {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub account: A,
    /// Settings on top of the cluster's; `region` and `state` here win over the defaults.
    pub extra: SettingsInput,
    /// Refusals `run` lifts (none by default, as for the binary).
    pub allow: Allow,
}

pub const ACCOUNT_ID: &str = "123456789012";

impl<A: Account> Env<A> {
    /// A cluster named `name` whose requests are a copy of `examples/<requests>`, with the
    /// fixed test key already in the output dir (so runs don't spend time on keygen).
    pub fn new(account: A, name: &str, requests: &str) -> Env<A> {
        let dir = crate::support::scratch(requests, true);
        Env {
            dir,
            name: name.to_string(),
            account,
            extra: SettingsInput::default(),
            allow: Allow::default(),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn settings(&self) -> Settings {
        let base = self.dir.path();
        let input = SettingsInput {
            name: Some(self.name.clone()),
            region: self.extra.region.clone().or(Some("us-east-2".into())),
            credentials_requests_dir: Some(base.join("creds")),
            output_dir: Some(base.join("install")),
            state: self
                .extra
                .state
                .clone()
                .or(Some(base.join("state").join(format!("{}.toml", self.name)))),
            config: Some(root().join("tests/fixtures/empty-stsform.toml")),
            ..self.extra.clone()
        };
        settings::resolve(&input, Need::Cluster).unwrap()
    }

    fn inputs(&self, generate: bool) -> (Inputs, Option<stsform::keypair::PrivateKey>) {
        let settings = self.settings();
        let loaded = stsform::credentials_request::load(
            &settings.credentials_requests_dir,
            &stsform::credentials_request::LoadOptions::default(),
        )
        .unwrap();
        let key = workflow::signing_key(&settings, generate).unwrap();
        // Reviewed as the CLI reviews them, so plans carry the same warnings.
        let findings = stsform::review::requests(&loaded.requests, &settings, true).unwrap();
        (
            Inputs {
                settings,
                requests: loaded.requests,
                signing_key: key.public,
                thumbprint: None,
                include_unmanaged: false,
                findings,
            },
            key.private,
        )
    }

    /// `stsform plan` (refreshing).
    pub async fn plan(&self) -> Planned {
        self.plan_mode(Mode::Apply).await
    }

    pub async fn plan_mode(&self, mode: Mode) -> Planned {
        self.try_plan(mode).await.unwrap()
    }

    /// `stsform plan`, or its error (a state of another scope, a missing provider, a
    /// resource to create that exists without the cluster's tag).
    pub async fn try_plan(&self, mode: Mode) -> anyhow::Result<Planned> {
        self.try_plan_with(mode, false).await
    }

    /// [`Env::try_plan`], with `--include-unmanaged` for a destroy.
    pub async fn try_plan_with(
        &self,
        mode: Mode,
        include_unmanaged: bool,
    ) -> anyhow::Result<Planned> {
        let (mut inputs, key) = self.inputs(false);
        inputs.include_unmanaged = include_unmanaged;
        let provider = self.account.provider(key).await;
        let file = StateFile::lock(&inputs.settings.state, "plan", Duration::ZERO).unwrap();
        let state = file.load(&self.name).unwrap();
        workflow::plan(&inputs, &provider, state, mode, true, 10).await
    }

    /// `stsform apply --auto-approve` (or destroy): plan, then execute.
    pub async fn run(&self, mode: Mode) -> (Planned, Outcome, Recorder) {
        self.try_run(mode)
            .await
            .unwrap_or_else(|refusal| panic!("{refusal}"))
    }

    /// [`Env::run`], with `--include-unmanaged` for a destroy.
    pub async fn run_with(
        &self,
        mode: Mode,
        include_unmanaged: bool,
    ) -> (Planned, Outcome, Recorder) {
        let recorder = Recorder::default();
        let (planned, outcome) = self
            .try_run_observed_with(mode, include_unmanaged, &recorder)
            .await
            .unwrap_or_else(|refusal| panic!("{refusal}"));
        (planned, outcome, recorder)
    }

    /// `run`, or the refusal that stops it before anything changes (as the binary
    /// refuses after showing the plan), lifted by `self.allow`.
    pub async fn try_run(&self, mode: Mode) -> Result<(Planned, Outcome, Recorder), Refusal> {
        let recorder = Recorder::default();
        let (planned, outcome) = self.try_run_observed(mode, &recorder).await?;
        Ok((planned, outcome, recorder))
    }

    /// [`Env::run`] with the progress events going to `observer`.
    pub async fn run_observed(
        &self,
        mode: Mode,
        observer: &dyn stsform::execute::Observer,
    ) -> (Planned, Outcome) {
        self.try_run_observed(mode, observer)
            .await
            .unwrap_or_else(|refusal| panic!("{refusal}"))
    }

    /// [`Env::try_run`] with the progress events going to `observer`.
    pub async fn try_run_observed(
        &self,
        mode: Mode,
        observer: &dyn stsform::execute::Observer,
    ) -> Result<(Planned, Outcome), Refusal> {
        self.try_run_observed_with(mode, false, observer).await
    }

    async fn try_run_observed_with(
        &self,
        mode: Mode,
        include_unmanaged: bool,
        observer: &dyn stsform::execute::Observer,
    ) -> Result<(Planned, Outcome), Refusal> {
        let (mut inputs, key) = self.inputs(mode == Mode::Apply);
        inputs.include_unmanaged = include_unmanaged;
        let provider = self.account.provider(key).await;
        let file = StateFile::lock(&inputs.settings.state, "apply", Duration::ZERO).unwrap();
        let state = file.load(&self.name).unwrap();
        let planned = workflow::plan(&inputs, &provider, state, mode, true, 10)
            .await
            .unwrap();
        stsform::safety::check(
            &planned.plan,
            &planned.observed,
            mode == Mode::Destroy,
            self.allow,
        )?;
        let outcome = Self::execute_with(&planned, &provider, &file, observer).await;
        Ok((planned, outcome))
    }

    /// `stsform destroy --auto-approve` (or apply) with `between` run after the plan is
    /// made and before it is applied, through the same provider (as the binary runs
    /// them): for what happens in AWS meanwhile.
    pub async fn run_interleaved<F: std::future::Future<Output = ()>>(
        &self,
        mode: Mode,
        between: impl FnOnce() -> F,
    ) -> (Planned, Outcome) {
        let (inputs, key) = self.inputs(mode == Mode::Apply);
        let provider = self.account.provider(key).await;
        let file = StateFile::lock(&inputs.settings.state, "apply", Duration::ZERO).unwrap();
        let state = file.load(&self.name).unwrap();
        let planned = workflow::plan(&inputs, &provider, state, mode, true, 10)
            .await
            .unwrap();
        between().await;
        let recorder = Recorder::default();
        let outcome = Self::execute_with(&planned, &provider, &file, &recorder).await;
        (planned, outcome)
    }

    /// Applies a plan made earlier (as `apply PLANFILE` does), with the key on disk.
    pub async fn execute(&self, planned: &Planned) -> (Outcome, Recorder) {
        let (inputs, key) = self.inputs(false);
        let provider = self.account.provider(key).await;
        let file = StateFile::lock(&inputs.settings.state, "apply", Duration::ZERO).unwrap();
        let recorder = Recorder::default();
        let outcome = Self::execute_with(planned, &provider, &file, &recorder).await;
        (outcome, recorder)
    }

    async fn execute_with(
        planned: &Planned,
        provider: &std::sync::Arc<A::P>,
        file: &StateFile,
        observer: &dyn stsform::execute::Observer,
    ) -> Outcome {
        Self::execute_stoppable(planned, provider, file, observer, &AtomicBool::new(false)).await
    }

    async fn execute_stoppable(
        planned: &Planned,
        provider: &std::sync::Arc<A::P>,
        file: &StateFile,
        observer: &dyn stsform::execute::Observer,
        stop: &AtomicBool,
    ) -> Outcome {
        let controls = Controls {
            observer,
            parallelism: 10,
            stop,
        };
        // A copy: apply takes the refresh's findings out of what it is given, and the
        // scenarios look at the plan they were given afterwards.
        let (outcome, _) = workflow::apply(&mut planned.clone(), provider, file, controls)
            .await
            .unwrap();
        outcome
    }

    /// [`Env::run_observed`] (no refusal lifted but `self.allow`), with `stop` as the
    /// flag apply watches (what Ctrl-C sets).
    pub async fn run_stoppable(
        &self,
        mode: Mode,
        observer: &dyn stsform::execute::Observer,
        stop: &AtomicBool,
    ) -> (Planned, Outcome) {
        let (inputs, key) = self.inputs(mode == Mode::Apply);
        let provider = self.account.provider(key).await;
        let file = StateFile::lock(&inputs.settings.state, "apply", Duration::ZERO).unwrap();
        let state = file.load(&self.name).unwrap();
        let planned = workflow::plan(&inputs, &provider, state, mode, true, 10)
            .await
            .unwrap();
        stsform::safety::check(
            &planned.plan,
            &planned.observed,
            mode == Mode::Destroy,
            self.allow,
        )
        .unwrap();
        let outcome = Self::execute_stoppable(&planned, &provider, &file, observer, stop).await;
        (planned, outcome)
    }

    pub async fn apply(&self) -> (Planned, Outcome) {
        let (p, o, _) = self.run(Mode::Apply).await;
        (p, o)
    }

    /// `stsform import`: fills an empty state with what the scan finds, through the same
    /// stage the binary runs.
    pub async fn import(&self) -> stsform::import::Report {
        let (inputs, key) = self.inputs(false);
        let provider = self.account.provider(key).await;
        let file = StateFile::lock(&inputs.settings.state, "import", Duration::ZERO).unwrap();
        let mut state = file.load(&self.name).unwrap();
        stsform::import::require_empty(&state, "state").unwrap();
        let report = workflow::import(&inputs, &provider, &mut state, 10)
            .await
            .unwrap();
        file.save(&mut state).unwrap();
        report
    }

    /// The state as saved on disk.
    pub fn state(&self) -> stsform::state::State {
        let text = std::fs::read_to_string(self.settings().state).unwrap();
        stsform::state::State::from_toml(&text, "state").unwrap()
    }

    /// `stsform state rm`: the state forgets `ids`; AWS keeps them.
    pub fn forget(&self, ids: &[stsform::resource::ResourceId]) {
        let path = self.path(&format!("state/{}.toml", self.name));
        let file = StateFile::lock(&path, "state rm", Duration::ZERO).unwrap();
        let mut state = file.load(&self.name).unwrap();
        for id in ids {
            assert!(
                state.resources.remove(id).is_some(),
                "{id} not in the state"
            );
        }
        file.save(&mut state).unwrap();
    }

    pub fn edit_request(&self, file: &str, edit: impl FnOnce(String) -> String) {
        let p = self.path("creds").join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::write(&p, edit(text)).unwrap();
    }
}

/// What AWS must hold for examples/cluster applied as `name` (in us-east-2).
pub fn expected_cluster_inventory(name: &str) -> BTreeSet<String> {
    expected_cluster_inventory_in(name, "us-east-2")
}

/// What AWS must hold for examples/cluster applied as `name` in `region`.
pub fn expected_cluster_inventory_in(name: &str, region: &str) -> BTreeSet<String> {
    let roles = [
        format!("{name}-openshift-machine-api-aws-cloud-credentials"),
        format!(
            "{name}-openshift-cloud-credential-operator-cloud-credential-operator-iam-ro-creds"
        ),
        format!("{name}-openshift-image-registry-installer-cloud-credentials"),
        format!("{name}-openshift-ingress-operator-cloud-credentials"),
        format!("{name}-openshift-cluster-csi-drivers-ebs-cloud-credentials"),
        format!("{name}-openshift-cloud-network-config-controller-cloud-credentials"),
        // Feature-gated (release.openshift.io/feature-gate), included as ccoctl includes it.
        format!("{name}-openshift-cluster-api-capa-manager-bootstrap-credentials"),
    ]
    .map(|r| r[..r.len().min(64)].to_string());
    let mut out: BTreeSet<String> = BTreeSet::new();
    out.insert(format!("bucket:{name}-oidc"));
    out.insert(format!(
        "object:{name}-oidc/.well-known/openid-configuration"
    ));
    out.insert(format!("object:{name}-oidc/keys.json"));
    out.insert(format!("provider:{name}-oidc.s3.{region}.amazonaws.com"));
    for r in roles {
        out.insert(format!("role_policy:{r}/{r}"));
        out.insert(format!("role:{r}"));
    }
    out
}

pub fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// Runs a scenario body against the fake and against moto.
macro_rules! scenario {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn fake() {
                super::$name(crate::fake_account::FakeAccount::new(), "fk".to_string()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                let account = crate::moto_account::MotoAccount::connect().await;
                super::$name(account, crate::moto_account::unique_name()).await;
            }
        }
    };
}
pub(crate) use scenario;
