//! `show PLANFILE`: a saved plan rendered as `plan` rendered it, without planning again
//! (Terraform's `show`), so CI can post exactly the plan that will be applied.

use super::*;

pub(super) fn show(args: &ShowArgs) -> Result<()> {
    let saved = saved_plan::read(&args.plan_file)?;
    let meta = render::Meta {
        cluster: saved.settings.name.clone(),
        region: saved.settings.region.name.clone(),
        serial: saved.state_serial,
        lineage: saved.state_lineage.clone(),
        reads: saved.reads,
        version: saved.stsform_version.clone(),
    };
    // Local paths as `plan` showed them: from the working directory.
    let shown = plan_apply::shown_plan(&saved.plan, &saved.settings);
    plan_apply::render_plan(args.format, &shown, &meta, &mut Stdout)
}
