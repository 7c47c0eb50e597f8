-- Indexes that keep a call's cost from growing with the data (issue: performance). Every
-- authenticated call reads the caller's active permits: with an index on the account's
-- unrevoked permits in grant order, it reads exactly those (no revoked row visited, no
-- sort). The default actor is found by its account in creation order without a sort.
-- Who may approve a request is found by role and scope (the scope and its ancestors), not
-- by scanning every unrevoked permit of the role.
CREATE INDEX permits_account_active ON permits (account_id, created_at, id) WHERE revoked_at IS NULL;
CREATE INDEX permits_role_scope_active ON permits (role, COALESCE(scope_id, '')) WHERE revoked_at IS NULL;
DROP INDEX permits_role_active;
DROP INDEX actors_account;
CREATE INDEX actors_account ON actors (account_id, created_at, id);
