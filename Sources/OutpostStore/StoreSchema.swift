import GRDB
import OutpostSchema

/// Outpost's own tables (all named `outpost_*`) and the plain collection tables.
enum StoreSchema {
    /// Migrations of Outpost's own tables. Never edit a shipped migration; add a new one.
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE outpost_meta (key TEXT PRIMARY KEY NOT NULL, value ANY) STRICT;
                -- The replicated state of every record (fields known to the schema or not, tombstones).
                CREATE TABLE outpost_records (
                    collection TEXT NOT NULL, id TEXT NOT NULL, state BLOB NOT NULL,
                    live INTEGER NOT NULL, conflicts INTEGER NOT NULL,
                    PRIMARY KEY (collection, id)) WITHOUT ROWID, STRICT;
                -- Every change applied here, local or remote, in order: relay source and audit trail.
                CREATE TABLE outpost_feed (
                    seq INTEGER PRIMARY KEY, replica TEXT NOT NULL, counter INTEGER NOT NULL,
                    collection TEXT NOT NULL, record_id TEXT NOT NULL, origin TEXT NOT NULL,
                    change BLOB NOT NULL, UNIQUE (replica, counter)) STRICT;
                CREATE INDEX outpost_feed_by_record ON outpost_feed (collection, record_id, seq);
                CREATE TABLE outpost_conflicts (
                    id TEXT PRIMARY KEY NOT NULL, collection TEXT NOT NULL, record_id TEXT NOT NULL,
                    key TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL) STRICT;
                CREATE INDEX outpost_conflicts_by_record ON outpost_conflicts (collection, record_id);
                -- Records whose parent does not exist here (deleted elsewhere, or not arrived yet).
                CREATE TABLE outpost_orphans (
                    collection TEXT NOT NULL, record_id TEXT NOT NULL, parent_collection TEXT NOT NULL,
                    parent_id TEXT NOT NULL, PRIMARY KEY (collection, record_id)) WITHOUT ROWID, STRICT;
                CREATE INDEX outpost_orphans_by_parent ON outpost_orphans (parent_collection, parent_id);
                -- Changes this replica refused to apply (kept whole, with the reason).
                CREATE TABLE outpost_rejected (
                    replica TEXT NOT NULL, counter INTEGER NOT NULL, origin TEXT NOT NULL, code TEXT NOT NULL,
                    reason TEXT NOT NULL, change BLOB NOT NULL, PRIMARY KEY (replica, counter)) WITHOUT ROWID, STRICT;
                -- Where this replica stands with each peer (used by sync).
                CREATE TABLE outpost_checkpoints (peer TEXT PRIMARY KEY NOT NULL, detail TEXT NOT NULL) STRICT;
                """)
        }
        m.registerMigration("v2-rejections-kept-by-sender") { db in
            // A refused change is kept under the replica that sent it, so a change forged in
            // another replica's name can neither overwrite that replica's own refusals nor
            // say anything about it.
            try db.execute(sql: """
                CREATE TABLE outpost_rejected_v2 (
                    origin TEXT NOT NULL, replica TEXT NOT NULL, counter INTEGER NOT NULL, code TEXT NOT NULL,
                    reason TEXT NOT NULL, change BLOB NOT NULL, PRIMARY KEY (origin, replica, counter)) WITHOUT ROWID, STRICT;
                INSERT INTO outpost_rejected_v2 (origin, replica, counter, code, reason, change)
                    SELECT origin, replica, counter, code, reason, change FROM outpost_rejected;
                DROP TABLE outpost_rejected;
                ALTER TABLE outpost_rejected_v2 RENAME TO outpost_rejected;
                CREATE INDEX outpost_rejected_by_dot ON outpost_rejected (replica, counter);
                """)
        }
        m.registerMigration("v3-closed-conflicts") { db in
            // A conflict that a later write closed (an admin's settlement or a rep's edit that had
            // seen every side), with that write: the admin's "resolved, by whom".
            try db.execute(sql: """
                CREATE TABLE outpost_closed_conflicts (
                    id TEXT PRIMARY KEY NOT NULL, collection TEXT NOT NULL, record_id TEXT NOT NULL, key TEXT NOT NULL,
                    kind TEXT NOT NULL, detail TEXT NOT NULL, closed_dot TEXT NOT NULL, closed_user TEXT NOT NULL,
                    closed_device TEXT NOT NULL, closed_at INTEGER NOT NULL, outcome TEXT NOT NULL) STRICT;
                """)
        }
        m.registerMigration("v4-scope-log") { db in
            // Records whose scope may have changed (a root's scope field, a child's parent), in
            // order: what a replica below asks about before pulling (`protocol/scopes.md`).
            try db.execute(sql: """
                CREATE TABLE outpost_scope_log (seq INTEGER PRIMARY KEY, collection TEXT NOT NULL, record_id TEXT NOT NULL) STRICT;
                """)
        }
        m.registerMigration("v5-record-parent") { db in
            // Each child's parent, deleted children included: eviction, a record's history and
            // snapshots find every child of an account here. Filled for existing records when
            // the replica opens (the schema says which field is the parent).
            try db.execute(sql: """
                ALTER TABLE outpost_records ADD COLUMN parent TEXT;
                CREATE INDEX outpost_records_by_parent ON outpost_records (parent) WHERE parent IS NOT NULL;
                INSERT OR REPLACE INTO outpost_meta (key, value) VALUES ('parents_indexed', 0);
                """)
        }
        m.registerMigration("v6-evicted") { db in
            // Records evicted here whose feed entries were kept (a server's, or this laptop's own
            // writes): when one comes back, its state is rebuilt from them.
            try db.execute(sql: """
                CREATE TABLE outpost_evicted (collection TEXT NOT NULL, record_id TEXT NOT NULL, PRIMARY KEY (collection, record_id)) WITHOUT ROWID, STRICT;
                """)
        }
        m.registerMigration("v7-search") { db in
            // The rep's search: each record's searchable text in its search form
            // (`NameMatching.searchForm`), its name or title (head) apart from the rest, indexed
            // by trigrams so any part of a word is found.
            // Filled from the feed when a search runs (`Replica+Search.swift`), not on apply.
            try db.execute(sql: """
                CREATE TABLE outpost_search_keys (rowid INTEGER PRIMARY KEY, collection TEXT NOT NULL, record_id TEXT NOT NULL,
                    UNIQUE (collection, record_id)) STRICT;
                CREATE VIRTUAL TABLE outpost_search USING fts5(head, rest, tokenize = 'trigram');
                INSERT OR REPLACE INTO outpost_meta (key, value) VALUES ('search_through', 0);
                """)
        }
        m.registerMigration("v8-purged") { db in
            // Deleted records whose history was purged (`Replica+Retention.swift`), with their
            // state then (a deleted record's state blob holds every value): what a rebuild starts
            // from, the feed holding only what came after.
            try db.execute(sql: """
                CREATE TABLE outpost_purged (collection TEXT NOT NULL, record_id TEXT NOT NULL, state BLOB NOT NULL,
                    PRIMARY KEY (collection, record_id)) WITHOUT ROWID, STRICT;
                """)
        }
        m.registerMigration("v9-purged-writes") { db in
            // Each write whose feed entry a purge removed, by its dot, with its digest: a copied
            // folder's heal still recognizes it, and a replica whose `seen` lacks it is known to
            // stand before the purge; each replica's highest purged write (`heads`) is what
            // positions and `seen` vectors read, and what a snapshot carries to a laptop, whose
            // `seen` then counts writes it holds only through bases. A purged record keeps who created it (its first feed entry
            // said so): an unrooted child is its creator's.
            try db.execute(sql: """
                CREATE TABLE outpost_purged_writes (replica TEXT NOT NULL, counter INTEGER NOT NULL, digest TEXT NOT NULL,
                    PRIMARY KEY (replica, counter)) WITHOUT ROWID, STRICT;
                CREATE TABLE outpost_purged_heads (replica TEXT PRIMARY KEY NOT NULL, counter INTEGER NOT NULL) WITHOUT ROWID, STRICT;
                ALTER TABLE outpost_purged ADD COLUMN creator TEXT;
                """)
        }
        return m
    }

    /// Creates or extends the plain table of a collection. Returns the columns it added.
    ///
    /// Columns are only ever added: a field removed from the schema keeps its column (no longer
    /// updated) and its values stay in the record states, so no data is dropped.
    static func ensureTable(_ spec: CollectionSpec, _ db: Database) throws -> [String] {
        let table = spec.name.quotedDatabaseIdentifier
        if try !db.tableExists(spec.name) {
            let columns = spec.fields.map { "\($0.name.quotedDatabaseIdentifier) \($0.type.sqliteType)" }
            try db.execute(sql: "CREATE TABLE \(table) (id TEXT PRIMARY KEY NOT NULL, \(columns.joined(separator: ", ")))")
            for f in spec.fields where f.type == .reference {
                try db.execute(sql: "CREATE INDEX \("\(spec.name)_by_\(f.name)".quotedDatabaseIdentifier) ON \(table) (\(f.name.quotedDatabaseIdentifier))")
            }
            for op in ["INSERT", "UPDATE", "DELETE"] {
                let name = "\(spec.name)_outpost_\(op.lowercased())".quotedDatabaseIdentifier
                try db.execute(sql: """
                    CREATE TRIGGER \(name) BEFORE \(op) ON \(table) WHEN outpost_writer() IS NOT 1 BEGIN
                    SELECT RAISE(ABORT, '\(spec.name) is replicated by Outpost and read-only here: write with the outpost command or library');
                    END
                    """)
            }
            return []
        }
        let existing = Set(try db.columns(in: spec.name).map(\.name))
        var added: [String] = []
        for f in spec.fields where !existing.contains(f.name) {
            try db.execute(sql: "ALTER TABLE \(table) ADD COLUMN \(f.name.quotedDatabaseIdentifier) \(f.type.sqliteType)")
            added.append(f.name)
        }
        return added
    }
}
