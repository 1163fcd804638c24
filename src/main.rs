use std::process::ExitCode;

use clap::Parser;
use interdict::cli::{Cli, Command};
use interdict::{api, controller, core, reader, serve};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crds => match api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot render the CRDs: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Check(args) => match reader::load(&args.dir) {
            Ok(loaded) => {
                // `check` runs without a log subscriber, so the reader's own
                // warnings would be lost: an answer that ignores an item says so.
                for skipped in &loaded.skipped {
                    eprintln!(
                        "warning: {skipped}; item skipped, the rest of the document is in force"
                    );
                }
                let now = args.at.unwrap_or_else(chrono::Utc::now);
                let decision = core::decide_contents(&loaded.contents, &args.query(), now);
                println!(
                    "{}",
                    serde_json::to_string(&decision).expect("decisions serialise")
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => controller::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Audit(args) => args.run(),
    }
}
