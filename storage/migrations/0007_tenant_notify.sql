-- Tenant configuration is cached in each process; any change to it is announced on the
-- `truffles_tenants` channel so that every replica drops its cache at once.
CREATE FUNCTION notify_tenant_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('truffles_tenants', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER clients_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION notify_tenant_change();
CREATE TRIGGER client_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON client_settings
    FOR EACH STATEMENT EXECUTE FUNCTION notify_tenant_change();
CREATE TRIGGER branches_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON branches
    FOR EACH STATEMENT EXECUTE FUNCTION notify_tenant_change();
CREATE TRIGGER prompts_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON prompts
    FOR EACH STATEMENT EXECUTE FUNCTION notify_tenant_change();
