//! `rotate-key`: where a signing-key rotation stands, and the next commands.

use super::*;

/// Reads the state (unlocked: this changes nothing) and the served keys.json, prints the
/// report. Exit 1 when the settings ask for a step that is not the next one.
pub(super) async fn rotate_key(args: &crate::cli::RotateKeyArgs) -> Result<u8> {
    let settings = settings::resolve(&args.cluster.settings_input(), Need::Cluster)?;
    let key = workflow::signing_key(&settings, false)?;
    let store = open_store(&settings)?;
    let interrupts = Interrupts::install()?;
    let mut state = interruptible(&interrupts, "while reading the state", async {
        Ok(store.read(&settings.name).await?)
    })
    .await?;
    crate::scope::claim(&mut state, &settings)?;
    let provider = connect(&settings, None).await?;
    let status = interruptible(&interrupts, "while reading keys.json", async {
        workflow::rotation(
            provider.as_ref(),
            &settings,
            &state,
            key.public.as_ref(),
            (
                args.cluster.settings_flags("apply"),
                args.cluster.settings_flags("verify"),
            ),
        )
        .await
    })
    .await?;
    render::rotation::text(&status, &mut Stdout)?;
    Ok(match status.stage {
        crate::rotation::Stage::Blocked { .. } => 1,
        _ => 0,
    })
}
