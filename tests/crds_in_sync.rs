//! The checked-in CRDs are generated; they must never drift from the Rust types.

#[test]
fn checked_in_crds_match_the_rust_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let checked_in: String = files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let generated = interdict::api::crd_yaml().unwrap();
    assert!(
        checked_in == generated,
        "crds/ differs from `interdict crds`; regenerate with `make crds` and commit the result"
    );
}

#[test]
fn binary_prints_the_same_crds() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_interdict"))
        .arg("crds")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        interdict::api::crd_yaml().unwrap()
    );
}
