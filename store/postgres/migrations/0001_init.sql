-- Initial schema, the same shape as store/sqlite's.
--
-- Addresses, anchors and display names use the "C" collation: they order by
-- bytes, as in SQLite and Go's sort.Strings, whatever the database's default
-- locale (an en_US collation ignores punctuation and would reorder pages and
-- alias lists), and ILIKE folds ASCII only, like SQLite's LIKE.

CREATE TABLE domains (
    name    text COLLATE "C" PRIMARY KEY,
    created timestamptz NOT NULL
);

-- Users and groups share one table: groups are mail-enabled objects too, and an
-- address must be unique across both.
CREATE TABLE objects (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('user', 'group')),
    address      text COLLATE "C" NOT NULL UNIQUE,
    display_name text COLLATE "C" NOT NULL DEFAULT '',
    given_name   text NOT NULL DEFAULT '',
    surname      text NOT NULL DEFAULT '',
    phone        text NOT NULL DEFAULT '',
    department   text NOT NULL DEFAULT '',
    title        text NOT NULL DEFAULT '',
    enabled      boolean NOT NULL DEFAULT true,
    origin       text COLLATE "C" NOT NULL,
    anchor       text COLLATE "C" NOT NULL DEFAULT '',
    protected    boolean NOT NULL DEFAULT false,
    created      timestamptz NOT NULL,
    updated      timestamptz NOT NULL
);

-- Manual, csv and outbound objects have no anchor, so only non-empty anchors
-- must be unique within an origin.
CREATE UNIQUE INDEX objects_origin_anchor ON objects (origin, anchor) WHERE anchor <> '';

-- Every primary address and alias has one row here, so "an address belongs to
-- at most one object, as primary or alias" is the primary key, not application
-- code that could race.
CREATE TABLE addresses (
    address   text COLLATE "C" PRIMARY KEY,
    object_id bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    is_alias  boolean NOT NULL
);
CREATE INDEX addresses_object ON addresses (object_id);

-- Members reference objects by id, so renaming a member needs no rewrite here.
CREATE TABLE group_members (
    group_id  bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    member_id bigint NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX group_members_member ON group_members (member_id);

-- The highest fencing token seen per lock name (store.Fence).
CREATE TABLE fences (
    name  text PRIMARY KEY,
    token bigint NOT NULL
);

CREATE TABLE audit (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time       timestamptz NOT NULL,
    actor_kind text NOT NULL,
    actor_name text NOT NULL,
    run_id     text NOT NULL DEFAULT '',
    action     text NOT NULL,
    address    text COLLATE "C" NOT NULL,
    changes    jsonb NOT NULL, -- array of store.FieldChange
    reason     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_address ON audit (address, id);
CREATE INDEX audit_run ON audit (run_id, id);
