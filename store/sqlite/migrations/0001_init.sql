-- Initial schema. Times are Unix nanoseconds (UTC) so they sort and compare as
-- integers; booleans are 0/1.

CREATE TABLE domains (
    name    TEXT PRIMARY KEY,
    created INTEGER NOT NULL
) WITHOUT ROWID;

-- Users and groups share one table: groups are mail-enabled objects too, and an
-- address must be unique across both.
CREATE TABLE objects (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('user', 'group')),
    address      TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL DEFAULT '',
    given_name   TEXT    NOT NULL DEFAULT '',
    surname      TEXT    NOT NULL DEFAULT '',
    phone        TEXT    NOT NULL DEFAULT '',
    department   TEXT    NOT NULL DEFAULT '',
    title        TEXT    NOT NULL DEFAULT '',
    enabled      INTEGER NOT NULL DEFAULT 1,
    origin       TEXT    NOT NULL,
    anchor       TEXT    NOT NULL DEFAULT '',
    protected    INTEGER NOT NULL DEFAULT 0,
    created      INTEGER NOT NULL,
    updated      INTEGER NOT NULL
);

-- Manual, csv and outbound objects have no anchor, so only non-empty anchors
-- must be unique within an origin.
CREATE UNIQUE INDEX objects_origin_anchor ON objects (origin, anchor) WHERE anchor <> '';
CREATE INDEX objects_display_name ON objects (display_name);

-- Every primary address and alias has one row here, so "an address belongs to
-- at most one object, as primary or alias" is the primary key, not application
-- code that could race.
CREATE TABLE addresses (
    address   TEXT    PRIMARY KEY,
    object_id INTEGER NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    is_alias  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX addresses_object ON addresses (object_id);

-- Members reference objects by id, so renaming a member needs no rewrite here.
CREATE TABLE group_members (
    group_id  INTEGER NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    member_id INTEGER NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
) WITHOUT ROWID;
CREATE INDEX group_members_member ON group_members (member_id);

CREATE TABLE fences (
    name  TEXT    PRIMARY KEY,
    token INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    actor_kind TEXT    NOT NULL,
    actor_name TEXT    NOT NULL,
    run_id     TEXT    NOT NULL DEFAULT '',
    action     TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    changes    TEXT    NOT NULL, -- JSON array of store.FieldChange
    reason     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_address ON audit (address, id);
CREATE INDEX audit_run ON audit (run_id, id);
