//! `-o`: how results are printed. Tables for people; JSON and YAML carry the
//! same rows for scripts; CSV and JSON lines are the import format, which
//! only `export` writes.

use clap::ValueEnum;
use serde::Serialize;

use super::error::{PluginError, Result};

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Table,
    Json,
    Yaml,
    Csv,
    Jsonl,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Table => "table",
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Csv => "csv",
            OutputFormat::Jsonl => "jsonl",
        }
    }
}

/// The format asked for, which must be one of `allowed` (the first is the
/// default); anything else is a usage error naming what the verb takes.
pub fn choose(
    asked: Option<OutputFormat>,
    allowed: &[OutputFormat],
    verb: &str,
) -> Result<OutputFormat> {
    let Some(asked) = asked else {
        return Ok(allowed[0]);
    };
    if allowed.contains(&asked) {
        return Ok(asked);
    }
    let names: Vec<&str> = allowed.iter().map(|f| f.as_str()).collect();
    Err(PluginError::usage(format!(
        "{verb} prints {}, not {}",
        names.join(", "),
        asked.as_str()
    )))
}

/// `value` as pretty JSON or YAML.
pub fn serialise<T: Serialize>(value: &T, format: OutputFormat) -> String {
    match format {
        OutputFormat::Yaml => serde_yaml::to_string(value).expect("results serialise"),
        _ => {
            let mut text = serde_json::to_string_pretty(value).expect("results serialise");
            text.push('\n');
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_verb_takes_its_formats_and_names_them_otherwise() {
        use OutputFormat::*;
        assert_eq!(choose(None, &[Table, Json], "who").unwrap(), Table);
        assert_eq!(choose(Some(Json), &[Table, Json], "who").unwrap(), Json);
        let error = choose(Some(Csv), &[Table, Json, Yaml], "who").unwrap_err();
        assert_eq!(error.to_string(), "who prints table, json, yaml, not csv");
        assert!(matches!(error, PluginError::Usage(_)));
    }

    #[test]
    fn json_and_yaml_carry_the_same_value() {
        let value = serde_json::json!({"a": [1, 2]});
        let json: serde_json::Value =
            serde_json::from_str(&serialise(&value, OutputFormat::Json)).unwrap();
        let yaml: serde_json::Value =
            serde_yaml::from_str(&serialise(&value, OutputFormat::Yaml)).unwrap();
        assert_eq!(json, value);
        assert_eq!(yaml, value);
    }
}
