//! `kiln card`: a run's model card, written again.

use kiln_experiment::card::{CARD_JSON, CARD_MARKDOWN, write_card};
use kiln_train::Result;

use super::parse_backend;
use crate::cli::CardArgs;

/// Runs `kiln card`.
pub fn run(args: &CardArgs) -> Result<()> {
    let run_dir = kiln_experiment::resolve_run(&args.run_dir)?;
    let card = write_card(&run_dir, parse_backend(args.backend.as_deref())?)?;
    let dir = run_dir.display();
    println!(
        "model card of {} ({}): {dir}/{CARD_MARKDOWN}, {dir}/{CARD_JSON}",
        card.model_details.name, card.model_details.kind
    );
    for caveat in &card.caveats {
        println!("  caveat: {caveat}");
    }
    Ok(())
}
