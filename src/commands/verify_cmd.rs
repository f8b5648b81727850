//! `verify`: prove the OIDC trust chain end to end.

use super::*;

/// `verify`: exit 0 when every service account can assume its role, 1 otherwise.
pub(super) async fn verify(args: &crate::cli::VerifyArgs) -> Result<u8> {
    use crate::verify::{self, Documents, Https, Options, Target};
    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false, None)?;
    let key = verify::private_key(&inputs.settings)?;
    let provider = connect(&inputs.settings, None).await?;
    // With an emulator the documents are read through it (S3 GetObject); against AWS
    // they are fetched over HTTPS from the issuer URL, as STS fetches them.
    let emulated = provider.endpoint_url().is_some();
    let documents = if emulated {
        Documents::Provider
    } else {
        Documents::Https(Https::new(Duration::from_secs(10))?)
    };
    let target = Target {
        settings: &inputs.settings,
        requests: &inputs.requests,
        key: &key,
        now: verify::now(),
    };
    let options = Options {
        documents,
        emulated_sts: emulated,
    };
    let report = verify::run(provider.as_ref(), &target, &options).await?;
    verify::render::write(&report, args.format, &mut Stdout)?;
    Ok(if report.passed() { 0 } else { 1 })
}
