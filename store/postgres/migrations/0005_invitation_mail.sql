-- Accounts as the portals work them (issue 23): invitations carry the roles
-- the administrator chose and the state of their email; a store-wide key for
-- the answers that must not tell a known address from an unknown one.
--
-- roles is a JSON array of role names as defined. email_status is '' (no
-- email asked for), 'pending' (being sent), 'sent', 'retrying' (a temporary
-- failure; email_next is the next attempt) or 'failed'. email_error is the
-- last failure's words (never the token). NULL times are never.
ALTER TABLE invitations
    ADD COLUMN roles          text        NOT NULL DEFAULT '[]',
    ADD COLUMN email_status   text        NOT NULL DEFAULT '',
    ADD COLUMN email_attempts integer     NOT NULL DEFAULT 0,
    ADD COLUMN email_sent     timestamptz,
    ADD COLUMN email_error    text        NOT NULL DEFAULT '',
    ADD COLUMN email_next     timestamptz;

-- Named values the store generates once and every replica shares (the key
-- of the password reset's stand-in questions). Never audited, never shown.
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
