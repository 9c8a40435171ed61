-- The admin console (issue 22): its sign-in sessions, and the permission to
-- sign in.
--
-- A session is shared by every process on the store. Only the hex SHA-256 of
-- the session's id (the cookie's value) is kept; the row holds no secret.
-- Sessions are not audited. The address is not a reference to objects: the
-- console checks the user on every request.
CREATE TABLE sessions (
    hash      text PRIMARY KEY,
    address   text COLLATE "C" NOT NULL,
    created   timestamptz NOT NULL,
    last_seen timestamptz NOT NULL, -- the idle timeout counts from here
    expires   timestamptz NOT NULL  -- the absolute timeout
);
-- PurgeSessions deletes by either time.
CREATE INDEX sessions_last_seen ON sessions (last_seen);
CREATE INDEX sessions_expires ON sessions (expires);

-- "console" joined store.Permissions, and Administrator holds every
-- permission: a new store seeds it so (0002), an existing one gets it here.
-- The list stays sorted by bytes, without duplicates.
UPDATE roles
SET permissions = ARRAY(
    SELECT DISTINCT p COLLATE "C" FROM unnest(array_append(permissions, 'console')) AS t(p) ORDER BY 1
)
WHERE name = 'Administrator'
  AND NOT ('console' = ANY (permissions));
