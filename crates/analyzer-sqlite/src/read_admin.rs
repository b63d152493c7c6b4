//! Operator reads: the dropped-packet log, page statistics of the file and a consistent
//! snapshot of the whole database (`VACUUM INTO`) for `/api/backup`.

use std::path::Path;

use analyzer_db::{DatabasePages, DbError, DbResult, DroppedPacketRow, DroppedQuery};
use rusqlite::{Connection, Row, params};

use crate::cells::text;
use crate::map_err;

/// `dropped_packets` rows matching `q`, newest first. A database without the table (one a
/// foreign writer created) has no dropped packets.
pub(crate) fn dropped_packets(
    conn: &Connection,
    q: &DroppedQuery,
) -> DbResult<Vec<DroppedPacketRow>> {
    if !crate::migrate::table_exists(conn, "dropped_packets")? {
        return Ok(Vec::new());
    }
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, hash, raw_hex, reason, observer_id, observer_name, node_pubkey,
                    node_name, dropped_at
             FROM dropped_packets
             WHERE (?1 IS NULL OR observer_id = ?1 COLLATE NOCASE)
               AND (?2 IS NULL OR node_pubkey = ?2 COLLATE NOCASE)
             ORDER BY id DESC
             LIMIT ?3",
        )
        .map_err(map_err)?;
    let rows = stmt
        .query_map(
            params![q.observer_id.as_deref(), q.node_pubkey.as_deref(), limit],
            dropped_row,
        )
        .map_err(map_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)?;
    Ok(rows)
}

fn dropped_row(r: &Row<'_>) -> rusqlite::Result<DroppedPacketRow> {
    Ok(DroppedPacketRow {
        id: r.get(0)?,
        hash: text(r, 1)?,
        raw_hex: text(r, 2)?,
        reason: text(r, 3)?.unwrap_or_default(),
        observer_id: text(r, 4)?,
        observer_name: text(r, 5)?,
        node_pubkey: text(r, 6)?,
        node_name: text(r, 7)?,
        dropped_at: text(r, 8)?,
    })
}

/// `PRAGMA page_count`, `page_size`, `cache_size` and the size of the `-wal` file.
pub(crate) fn database_pages(conn: &Connection) -> DbResult<DatabasePages> {
    let pragma = |name: &str| -> DbResult<i64> {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .map_err(map_err)
    };
    let file: Option<String> = conn
        .query_row(
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
            [],
            |r| r.get(0),
        )
        .map_err(map_err)?;
    let wal_bytes = file
        .filter(|f| !f.is_empty())
        .and_then(|f| std::fs::metadata(format!("{f}-wal")).ok())
        .map_or(0, |m| m.len());
    Ok(DatabasePages {
        page_count: pragma("page_count")?,
        page_size: pragma("page_size")?,
        cache_size: pragma("cache_size")?,
        wal_bytes,
    })
}

/// `VACUUM INTO path`: a consistent, compacted copy of the database as of one read
/// transaction. Works on a read-only connection (the output file is opened for writing
/// by SQLite itself). `path` must not exist.
pub(crate) fn snapshot_into(conn: &Connection, path: &Path) -> DbResult<u64> {
    let target = path
        .to_str()
        .ok_or_else(|| DbError::Backend("snapshot path is not valid UTF-8".into()))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(map_err)?;
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| DbError::Backend(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use analyzer_db::{DroppedPacket, Storage, StorageReader, WriteBatch};

    use crate::{OpenOptions, SqliteReader, SqliteStorage};

    use super::*;

    fn dropped(id: u8, observer: &str, node: &str) -> DroppedPacket {
        DroppedPacket {
            hash: None,
            raw_hex: (id % 2 == 0).then(|| format!("11{id:02X}")),
            reason: "invalid signature".into(),
            observer_id: Some(observer.into()),
            observer_name: Some(format!("obs {observer}")),
            node_pubkey: Some(node.into()),
            node_name: None,
            dropped_at: 1_767_225_600 + i64::from(id),
        }
    }

    #[test]
    fn dropped_rows_filters_pages_and_snapshot_of_a_read_only_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let mut storage = SqliteStorage::open(&db, OpenOptions::default()).unwrap();
        let batch = WriteBatch {
            dropped: vec![
                dropped(1, "OBS1", "AA"),
                dropped(2, "obs2", "bb"),
                dropped(3, "OBS1", "bb"),
            ],
            ..WriteBatch::default()
        };
        storage.write_batch(&batch).unwrap();
        let reader = SqliteReader::open(&db, &OpenOptions::default()).unwrap();
        let q = |limit, observer: Option<&str>, node: Option<&str>| DroppedQuery {
            limit,
            observer_id: observer.map(str::to_owned),
            node_pubkey: node.map(str::to_owned),
        };
        let ids = |rows: Vec<DroppedPacketRow>| rows.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(reader.dropped_packets(&q(10, None, None)).unwrap()),
            [3, 2, 1]
        );
        assert_eq!(
            ids(reader.dropped_packets(&q(2, None, None)).unwrap()),
            [3, 2]
        );
        assert_eq!(
            ids(reader.dropped_packets(&q(10, Some("obs1"), None)).unwrap()),
            [3, 1]
        );
        assert_eq!(
            ids(reader.dropped_packets(&q(10, None, Some("BB"))).unwrap()),
            [3, 2]
        );
        let row = &reader.dropped_packets(&q(1, None, None)).unwrap()[0];
        assert_eq!(row.node_pubkey.as_deref(), Some("bb"));
        assert_eq!(row.raw_hex, None);
        assert_eq!(row.dropped_at.as_deref(), Some("2026-01-01 00:00:03"));

        let pages = reader.database_pages().unwrap();
        assert!(pages.page_count > 0 && pages.page_size >= 512, "{pages:?}");

        let copy = dir.path().join("copy.db");
        let bytes = reader.snapshot_into(&copy).unwrap();
        assert_eq!(bytes, std::fs::metadata(&copy).unwrap().len());
        let copied = SqliteReader::open(&copy, &OpenOptions::default()).unwrap();
        assert_eq!(copied.dropped_packets(&q(10, None, None)).unwrap().len(), 3);
        // An existing target is refused, not overwritten.
        assert!(reader.snapshot_into(&copy).is_err());
    }
}
