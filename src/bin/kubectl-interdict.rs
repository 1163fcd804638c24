//! `kubectl interdict`: on `PATH` as `kubectl-interdict`, kubectl runs it as
//! a plugin. Everything it does lives in `interdict::plugin`.

fn main() -> std::process::ExitCode {
    interdict::plugin::main()
}
