//! `completion bash|zsh|fish`: a completion script for `kubectl-interdict`,
//! generated from the command definition itself (verbs, their flags, the
//! values of `-o` and of the shells), so it never falls behind a new flag.
//! Written here rather than with a completion crate: the project builds from
//! the packages it already has.

use clap::{Args, Command, CommandFactory, ValueEnum};

use super::error::Result;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug, Clone)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

const BIN: &str = "kubectl-interdict";

/// A verb, its aliases, what it does, and its flags.
struct Verb {
    names: Vec<String>,
    about: String,
    flags: Vec<Flag>,
}

struct Flag {
    long: String,
    short: Option<char>,
    about: String,
    /// The values it takes, when they are a fixed set.
    values: Vec<String>,
    /// Takes a value at all.
    takes_value: bool,
}

fn flags(command: &Command) -> Vec<Flag> {
    command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?.to_string();
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            Some(Flag {
                long,
                short: arg.get_short(),
                about: one_line(arg.get_help().map(|h| h.to_string()).unwrap_or_default()),
                takes_value: arg.get_action().takes_values(),
                values,
            })
        })
        .collect()
}

fn verbs(command: &Command) -> Vec<Verb> {
    command
        .get_subcommands()
        .map(|sub| Verb {
            names: std::iter::once(sub.get_name().to_string())
                .chain(sub.get_visible_aliases().map(str::to_string))
                .collect(),
            about: one_line(sub.get_about().map(|h| h.to_string()).unwrap_or_default()),
            flags: flags(sub),
        })
        .collect()
}

/// The first sentence-ish line of a help text, quoted for a shell.
fn one_line(text: String) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .replace(['\'', '"', '`', '$', '\\'], "")
}

fn bash(command: &Command) -> String {
    let verbs = verbs(command);
    let globals = flags(command);
    let all_names: Vec<String> = verbs.iter().flat_map(|v| v.names.clone()).collect();
    let flag_words = |flags: &[Flag]| {
        flags
            .iter()
            .flat_map(|f| {
                std::iter::once(format!("--{}", f.long)).chain(f.short.map(|s| format!("-{s}")))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut value_cases = String::new();
    for flag in globals.iter().chain(verbs.iter().flat_map(|v| &v.flags)) {
        if flag.values.is_empty() {
            continue;
        }
        let pattern = match flag.short {
            Some(s) => format!("--{}|-{s}", flag.long),
            None => format!("--{}", flag.long),
        };
        let case = format!(
            "        {pattern}) COMPREPLY=($(compgen -W \"{}\" -- \"$cur\")); return ;;\n",
            flag.values.join(" ")
        );
        if !value_cases.contains(&case) {
            value_cases.push_str(&case);
        }
    }
    let mut verb_cases = String::new();
    for verb in &verbs {
        let values: Vec<String> = verb
            .flags
            .iter()
            .filter(|f| f.long == "shell")
            .flat_map(|f| f.values.clone())
            .collect();
        let positional = if verb.names[0] == "completion" {
            ["bash", "zsh", "fish"].join(" ")
        } else {
            values.join(" ")
        };
        verb_cases.push_str(&format!(
            "        {}) words=\"{} {positional}\" ;;\n",
            verb.names.join("|"),
            flag_words(&verb.flags)
        ));
    }
    format!(
        r#"# bash completion for {BIN} (kubectl interdict)
_kubectl_interdict() {{
    local cur prev verb word words
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    case "$prev" in
{value_cases}    esac
    for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
        case "$word" in
            -*) ;;
            *) verb="$word"; break ;;
        esac
    done
    words="{globals}"
    case "$verb" in
        "") words="$words {verbs}" ;;
{verb_cases}    esac
    COMPREPLY=($(compgen -W "$words {globals}" -- "$cur"))
}}
complete -F _kubectl_interdict {BIN}
"#,
        globals = flag_words(&globals),
        verbs = all_names.join(" "),
    )
}

fn zsh(command: &Command) -> String {
    // zsh runs the bash function through its bash compatibility layer.
    format!(
        "#compdef {BIN}\n# zsh completion for {BIN} (kubectl interdict)\nautoload -U +X bashcompinit && bashcompinit\n{}",
        bash(command)
    )
}

fn fish(command: &Command) -> String {
    let verbs = verbs(command);
    let all_names: Vec<String> = verbs.iter().flat_map(|v| v.names.clone()).collect();
    let mut out = format!("# fish completion for {BIN} (kubectl interdict)\n");
    let flag_line = |condition: &str, flag: &Flag| {
        let mut line = format!("complete -c {BIN} -n '{condition}' -l {}", flag.long);
        if let Some(short) = flag.short {
            line.push_str(&format!(" -s {short}"));
        }
        if flag.takes_value {
            line.push_str(" -r");
        }
        if !flag.values.is_empty() {
            line.push_str(&format!(" -f -a '{}'", flag.values.join(" ")));
        }
        line.push_str(&format!(" -d '{}'\n", flag.about));
        line
    };
    for flag in flags(command) {
        out.push_str(&flag_line("true", &flag));
    }
    for verb in &verbs {
        for name in &verb.names {
            out.push_str(&format!(
                "complete -c {BIN} -f -n 'not __fish_seen_subcommand_from {}' -a {name} -d '{}'\n",
                all_names.join(" "),
                verb.about
            ));
        }
        let seen = format!("__fish_seen_subcommand_from {}", verb.names.join(" "));
        for flag in &verb.flags {
            out.push_str(&flag_line(&seen, flag));
        }
        if verb.names[0] == "completion" {
            out.push_str(&format!(
                "complete -c {BIN} -f -n '{seen}' -a 'bash zsh fish'\n"
            ));
        }
    }
    out
}

/// The script for `shell`.
pub fn script(shell: Shell) -> String {
    let command = super::PluginCli::command();
    match shell {
        Shell::Bash => bash(&command),
        Shell::Zsh => zsh(&command),
        Shell::Fish => fish(&command),
    }
}

pub fn run(args: &CompletionArgs) -> Result<()> {
    print!("{}", script(args.shell));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_the_verbs_and_their_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let text = script(shell);
            for word in [
                "ban", "silence", "block", "unban", "history", "import", "export",
            ] {
                assert!(text.contains(word), "{shell:?} lacks {word}");
            }
            for flag in [
                "kubeconfig",
                "reason",
                "appeal-instructions",
                "skip-invalid",
            ] {
                assert!(text.contains(flag), "{shell:?} lacks --{flag}");
            }
            assert!(
                text.contains("table json yaml csv jsonl"),
                "{shell:?}: -o values"
            );
        }
    }

    /// bash itself reads the script and completes the verbs and a verb's flags.
    #[test]
    fn bash_accepts_the_script_and_completes() {
        let Ok(bash) = which("bash") else {
            panic!("bash is needed for this test");
        };
        let script = script(Shell::Bash);
        let complete = |words: &str| {
            let program = format!(
                "{script}\nCOMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}}-1)); _kubectl_interdict; printf '%s\\n' \"${{COMPREPLY[@]}}\""
            );
            let output = std::process::Command::new(&bash)
                .args(["-c", &program])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        };
        let verbs = complete("kubectl-interdict si");
        assert_eq!(verbs.trim(), "silence");
        let flags = complete("kubectl-interdict ban --appeal");
        assert!(
            flags.contains("--appealable") && flags.contains("--appeal-instructions"),
            "{flags}"
        );
        let formats = complete("kubectl-interdict who -o j");
        assert_eq!(
            formats.split_whitespace().collect::<Vec<_>>(),
            ["json", "jsonl"]
        );
    }

    fn which(program: &str) -> std::result::Result<std::path::PathBuf, ()> {
        std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
            .ok_or(())
    }
}
