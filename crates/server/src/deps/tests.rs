//! Unit tests of the store's index refresher.

use std::sync::Arc;
use std::time::Duration;

use templates::{FsStore, StoreLimits, TemplateStore};
use tokio_util::sync::CancellationToken;

use super::spawn_index_refresher;

fn listed(store: &FsStore) -> Vec<String> {
    match store.list() {
        Ok(listing) => listing.iter().map(|m| m.name.to_string()).collect(),
        Err(e) => panic!("list: {e}"),
    }
}

#[tokio::test]
async fn index_refresher_brings_files_added_by_hand_into_the_listing_and_stops_on_shutdown() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = FsStore::open(dir.path().to_path_buf(), StoreLimits::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let store = Arc::new(store);
    let shutdown = CancellationToken::new();
    let task = spawn_index_refresher(
        Arc::clone(&store),
        Duration::from_millis(20),
        shutdown.clone(),
    );

    std::fs::write(
        dir.path().join("by-hand.md"),
        "+++\ntitle = \"By hand\"\n+++\nbody\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // A bounded wait for the next refreshes, not a latency assertion.
    let mut waited = 0;
    while listed(&store).is_empty() {
        assert!(waited < 500, "not listed after {waited} polls");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    assert_eq!(listed(&store), ["by-hand"]);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap_or_else(|_| panic!("the refresher did not stop on shutdown"))
        .unwrap_or_else(|e| panic!("{e}"));
}
