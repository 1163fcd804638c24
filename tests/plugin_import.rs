//! `kubectl interdict import`, `export` and `undo` on a real control plane:
//! a bad row writes nothing; a good file is labelled with its batch, written
//! again without change, exported back into another namespace and undone.

mod common;

use std::time::Duration;

use common::plugin::{count, json, plugin, plugin_ok, user_ban};
use common::{TestNamespace, eventually, output_text};
use interdict::api::{FeatureBlock, Phase, UserBan};
use interdict::core::email::hash_email;
use kube::api::ListParams;

#[tokio::test]
async fn an_import_with_one_bad_row_writes_nothing() {
    let ns = TestNamespace::new("plugin-import-bad").await;
    let n = ns.name.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bans.csv");
    std::fs::write(
        &file,
        "user,reason,duration\n1,spam,7d\n2,spam,7 days\n3,abuse,1d\n",
    )
    .unwrap();
    let output = plugin(&["import", "-n", n, file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", output_text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 3, column duration"), "{stderr}");
    assert!(stderr.contains("nothing imported"), "{stderr}");
    assert_eq!(count(&ns).await, 0);
    ns.cleanup().await;
}

const IMPORT: &str = "\
kind,mode,user,email,ip,duration,until,reason,message,features,scopes,appealable,name
UserBan,,101,,,7d,,spam,Suspended for spam.,,,true,
UserBan,Silence,102,,,,2099-01-01,abuse,,,,,
FeatureBlock,,103,,,,,abuse,,comments;uploads,page=/p/1,,
,,,mallory@example.org,,30d,,fraud,,,,,
,,,,203.0.113.0/24,12h,,brute-force,,,,,office-nat
";

#[tokio::test]
async fn an_import_is_labelled_idempotent_undone_and_exported_back() {
    let ns = TestNamespace::new("plugin-import").await;
    let copy = TestNamespace::new("plugin-import-copy").await;
    let n = ns.name.as_str();
    let _operator = ns.operator();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bans.csv");
    std::fs::write(&file, IMPORT).unwrap();
    let file = file.to_str().unwrap();

    let dry = plugin_ok(&["import", "-n", n, file, "--dry-run"]);
    assert_eq!(dry.matches("---\n").count(), 5, "{dry}");
    assert!(!dry.contains("mallory"), "{dry}");
    assert_eq!(count(&ns).await, 0);

    let imported = plugin_ok(&["import", "-n", n, file]);
    let batch = imported
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    assert!(
        batch.starts_with("import-") && imported.contains("applied 5 of 5"),
        "{imported}"
    );
    let selector = format!("interdict.dev/batch={batch}");
    let labelled = ListParams::default().labels(&selector);
    let bans = ns.api::<UserBan>().list(&labelled).await.unwrap().items;
    let blocks = ns
        .api::<FeatureBlock>()
        .list(&labelled)
        .await
        .unwrap()
        .items;
    assert_eq!((bans.len(), blocks.len()), (4, 1));
    let email = bans
        .iter()
        .find(|b| b.spec.subject.email.is_some())
        .unwrap();
    assert_eq!(
        email.spec.subject.email.as_deref(),
        Some(hash_email("mallory@example.org").as_str())
    );

    // Again: the same batch, and no spec changed (the operator's status
    // writes move resourceVersion, the generation counts spec changes).
    let again = plugin_ok(&["import", "-n", n, file]);
    assert!(again.contains(&format!("batch {batch}:")), "{again}");
    let after = ns.api::<UserBan>().list(&labelled).await.unwrap().items;
    assert_eq!(after.len(), 4);
    for ban in &after {
        assert_eq!(ban.metadata.generation, Some(1), "a re-run changes nothing");
    }

    // Exported and imported elsewhere, the same specs.
    let exported = plugin_ok(&["export", "-n", n, "--batch", &batch]);
    assert_eq!(exported.lines().count(), 6, "{exported}");
    assert!(!exported.contains("mallory"), "{exported}");
    let export_file = dir.path().join("export.csv");
    std::fs::write(&export_file, &exported).unwrap();
    plugin_ok(&["import", "-n", &copy.name, export_file.to_str().unwrap()]);
    for ban in &bans {
        let name = ban.metadata.name.as_deref().unwrap();
        let twin = copy.api::<UserBan>().get(name).await.unwrap();
        assert_eq!(twin.spec, ban.spec, "{name}");
    }
    let twin = copy
        .api::<FeatureBlock>()
        .get(blocks[0].metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(twin.spec, blocks[0].spec);
    let jsonl = plugin_ok(&["export", "-n", n, "--batch", &batch, "-o", "jsonl"]);
    assert_eq!(jsonl.lines().count(), 5);
    assert_eq!(json(jsonl.lines().next().unwrap())["kind"], "UserBan");

    // Undo lifts them all, keeping the objects.
    let undone = plugin_ok(&["undo", "-n", n, "--batch", &batch, "--by", "ann"]);
    assert!(
        undone.contains("lifted 5, already ended 0, failed 0 (of 5)"),
        "{undone}"
    );
    let reason = format!("undo batch {batch}");
    for ban in ns.api::<UserBan>().list(&labelled).await.unwrap().items {
        assert_eq!(ban.spec.lift.map(|l| l.reason), Some(reason.clone()));
    }
    let block = ns
        .api::<FeatureBlock>()
        .list(&labelled)
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(block.spec.lift.map(|l| l.reason), Some(reason));
    eventually("every ban lifted", Duration::from_secs(30), || async {
        let items = ns.api::<UserBan>().list(&labelled).await.ok()?.items;
        items
            .iter()
            .all(|b| b.status.as_ref().and_then(|s| s.phase) == Some(Phase::Lifted))
            .then_some(())
    })
    .await;
    let twice = plugin_ok(&["undo", "-n", n, "--batch", &batch]);
    assert!(twice.contains("lifted 0, already ended 5"), "{twice}");
    // Importing again after an undo does not take the lifts back.
    plugin_ok(&["import", "-n", n, file]);
    let still = user_ban(&ns, bans[0].metadata.name.as_deref().unwrap())
        .await
        .unwrap();
    assert!(still.spec.lift.is_some());
    assert_eq!(count(&ns).await, 5, "undo lifts, it never deletes");
    ns.cleanup().await;
    copy.cleanup().await;
}

#[tokio::test]
async fn a_thousand_rows_are_imported_and_undone() {
    let ns = TestNamespace::new("plugin-import-1k").await;
    let n = ns.name.as_str();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bans.csv");
    let mut csv = String::from("user,reason,duration\n");
    for i in 0..1000 {
        csv.push_str(&format!("{},spam,7d\n", 10_000 + i));
    }
    std::fs::write(&file, csv).unwrap();
    let imported = plugin_ok(&["import", "-n", n, file.to_str().unwrap()]);
    assert!(imported.contains("applied 1000 of 1000"), "{imported}");
    let batch = imported
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(':')
        .to_string();
    let labelled = ListParams::default().labels(&format!("interdict.dev/batch={batch}"));
    assert_eq!(
        ns.api::<UserBan>()
            .list(&labelled)
            .await
            .unwrap()
            .items
            .len(),
        1000
    );

    let undone = plugin_ok(&["undo", "-n", n, "--batch", &batch, "--by", "ann"]);
    assert!(undone.contains("lifted 1000"), "{undone}");
    let lifted = ns
        .api::<UserBan>()
        .list(&labelled)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|b| b.spec.lift.is_some())
        .count();
    assert_eq!(lifted, 1000);
    ns.cleanup().await;
}
