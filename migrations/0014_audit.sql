-- Audit (SEMANTICS 13): every mutating API call that got past authentication, with who,
-- what, when, the answer's status and the resource before and after. Append-only for
-- the service roles: they may insert and read, never change or delete.
CREATE TABLE audit_log (
    tenant_id  text        NOT NULL,
    id         uuid        NOT NULL,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    method     text        NOT NULL,
    path       text        NOT NULL,
    status     integer     NOT NULL,
    before     jsonb,
    after      jsonb,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_log_at_idx ON audit_log (tenant_id, at DESC, id DESC);

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()))
    WITH CHECK (tenant_id = (SELECT kairos_current_tenant()) OR (SELECT kairos_is_system()));
GRANT SELECT, INSERT ON audit_log TO kairos_app, kairos_system;
