//! `verify`: prove the OIDC trust chain end to end.

use super::*;

/// `verify`: exit 0 when every service account can assume its role, 1 otherwise.
pub(super) async fn verify(args: &crate::cli::VerifyArgs) -> Result<u8> {
    use crate::verify::{self, Options, Target};
    let (inputs, _) = inputs(&args.cluster, Need::Cluster, false, None)?;
    let keys = verify::private_keys(&inputs.settings)?;
    let retired = verify::retired_keys(&args.retired_key_file)?;
    let provider = connect(&inputs.settings, None).await?;
    let target = Target {
        settings: &inputs.settings,
        requests: &inputs.requests,
        expected: inputs.signing_key.as_ref().map(|k| k.jwks.as_str()),
        keys: &keys,
        retired: &retired,
        now: verify::now(),
    };
    let options = Options::for_run(provider.emulated())?;
    let report = verify::run(provider.as_ref(), &target, &options).await?;
    verify::render::write(&report, args.format, &mut Stdout)?;
    Ok(if report.passed() { 0 } else { 1 })
}
