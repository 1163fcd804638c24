use std::process::ExitCode;

use clap::Parser;
use interdict::cli::{Cli, Command};
use interdict::{api, console, controller, core, reader, serve};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the mimalloc (v3) that libmimalloc-sys builds:
/// the sys crate names this option only for its v2 build.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the system at once rather than after a delay:
/// mimalloc purges only on later allocator calls, so an operator that goes
/// idle after a catch-up would keep the whole catch-up's peak resident.
fn return_freed_memory_promptly() {
    // SAFETY: setting an option is a plain store mimalloc reads on its next purge.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
}

fn main() -> ExitCode {
    return_freed_memory_promptly();
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
        Command::Check(args) => check(&args),
        Command::HashEmail(args) => match args.lines() {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::from(2)
            }
        },
        Command::Run(args) => controller::main(args),
        Command::Serve(args) => serve::main(args),
        Command::Audit(args) => args.run(),
        Command::Console(args) => console::main(args),
    }
}

/// `interdict check`: exit 1 when the directory cannot be read, 2 for a bad
/// argument (an unreadable key file is one), 0 whatever the decision.
fn check(args: &interdict::cli::CheckArgs) -> ExitCode {
    let key = match args.email_key.load() {
        Ok(key) => key,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let loaded = match reader::load(&args.dir) {
        Ok(loaded) => loaded,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    // `check` runs without a log subscriber, so the reader's own warnings
    // would be lost: an answer that ignores an item says so.
    for skipped in &loaded.skipped {
        eprintln!("warning: {skipped}; item skipped, the rest of the document is in force");
    }
    let index = core::Index::new(loaded.contents).with_email_key(key);
    for (key_id, items) in index.foreign_email_keys() {
        let held = match index.email_key() {
            Some(own) => format!("this reader has key {}", own.id()),
            None => "this reader has no key (--email-hash-key-file)".to_string(),
        };
        eprintln!(
            "warning: {items} blocklist item(s) name an email keyed with key {key_id}, and {held}: \
             they match no query here"
        );
    }
    let now = args.at.unwrap_or_else(chrono::Utc::now);
    let decision = index.decide(&args.query(), now);
    println!(
        "{}",
        serde_json::to_string(&decision).expect("decisions serialise")
    );
    ExitCode::SUCCESS
}
