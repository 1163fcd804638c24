//! `interdict hash-email`: what a moderator writes instead of an address.
//! A ban can name its subject by `sha256:<hex>` so the address never reaches
//! the cluster; this prints that value with the canonicalisation every reader
//! applies, and with the key the keyed value statuses and blocklists show.

use std::io::BufRead;

use clap::Args;

use crate::core::email::published_email;

#[derive(Args, Debug, Clone)]
pub struct HashEmailArgs {
    /// The address as typed, or `-` to read it from the first line of
    /// standard input (keeps it out of shell history and process lists).
    /// An `sha256:` hash is accepted too, e.g. to key it.
    #[arg(value_name = "ADDRESS")]
    pub address: String,

    /// Also print the keyed form under this key.
    #[command(flatten)]
    pub email_key: super::EmailKeyArg,
}

impl HashEmailArgs {
    /// The lines to print: the `sha256:` form, then the keyed form when a key
    /// file was given.
    pub fn lines(&self) -> Result<Vec<String>, String> {
        let key = self.email_key.load()?;
        let address = if self.address == "-" {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the address from standard input: {e}"))?;
            line
        } else {
            self.address.clone()
        };
        if address.trim().is_empty() {
            return Err("no address given".into());
        }
        let unkeyed = published_email(&address, None);
        let mut lines = vec![unkeyed.clone()];
        if let Some(key) = key {
            lines.push(key.keyed(&unkeyed));
        }
        Ok(lines)
    }
}
