//! Contract tests: health, stats, perf.

use crate::common::*;

#[tokio::test]
async fn stats_counts_the_fixture_database() {
    let app = app();
    let answer = get(&app, "/api/stats").await;
    assert_eq!(answer.status, 200);
    let stats = &answer.json;
    assert!(
        stats["totalTransmissions"].as_u64().unwrap() > 100,
        "{stats}"
    );
    assert!(
        stats["totalObservations"].as_u64().unwrap()
            > stats["totalTransmissions"].as_u64().unwrap()
    );
    assert_eq!(stats["totalObservers"], 6);
}
