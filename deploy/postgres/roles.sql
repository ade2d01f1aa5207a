-- Least-privilege database roles for aequatio (deploy/README.md explains when to use which).
--
--   aequatio_migrator    owns the schema: runs `aequatio migrate` and `aequatio replay` (DDL)
--   aequatio_writer      the command side (API mutations) and the workers: reads everything,
--                        appends events, updates aggregates, the outbox, saga state and
--                        the read tables the projections maintain; no DDL, no history rewrite
--   aequatio_api_reader  schema `read` only, SELECT only: a query-only API or reporting
--
-- Idempotent: run it as a superuser (or a role with CREATEROLE that owns the database and is
-- a member of aequatio_migrator), connected to the aequatio database,
--   * once before the first `aequatio migrate` (creates the roles and the schemas' grants),
--   * again after every `aequatio migrate` (grants on the tables it created; the default
--     privileges below cover most of that, not the per-table exceptions). `aequatio replay`
--     copies the live tables' grants onto the rebuilt ones itself.
-- It also hands ownership of existing tables to aequatio_migrator, so a database that was
-- migrated by another role can be migrated by aequatio_migrator from then on.
-- Roles are created with LOGIN and no password: set one with ALTER ROLE ... PASSWORD
-- (deploy/postgres/apply-roles.sh does it from environment variables).

SET client_min_messages = warning;  -- no "already exists, skipping" notices on a re-run

-- 1. The roles (cluster-wide).
DO $$
DECLARE
    wanted text;
BEGIN
    FOREACH wanted IN ARRAY ARRAY['aequatio_migrator', 'aequatio_writer', 'aequatio_api_reader']
    LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = wanted) THEN
            EXECUTE format(
                'CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',
                wanted
            );
        END IF;
    END LOOP;
END
$$;

-- 2. This database: only the aequatio roles (and superusers) connect; no temporary tables
-- for anyone but the migrator.
DO $$
BEGIN
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
    -- CREATE: migration 0002 creates schema `read`, replay creates `read_rebuild_*` schemas.
    EXECUTE format(
        'GRANT CONNECT, TEMPORARY, CREATE ON DATABASE %I TO aequatio_migrator',
        current_database()
    );
    EXECUTE format(
        'GRANT CONNECT ON DATABASE %I TO aequatio_writer, aequatio_api_reader',
        current_database()
    );
END
$$;

-- 3. The schemas: `public` holds the write model, `read` the projections.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE, CREATE ON SCHEMA public TO aequatio_migrator;
GRANT USAGE ON SCHEMA public TO aequatio_writer;

CREATE SCHEMA IF NOT EXISTS read AUTHORIZATION aequatio_migrator;
ALTER SCHEMA read OWNER TO aequatio_migrator;
REVOKE ALL ON SCHEMA read FROM PUBLIC;
GRANT USAGE ON SCHEMA read TO aequatio_writer, aequatio_api_reader;

-- 4. Ownership: every table, sequence and function of the application belongs to the migrator
-- (only the owner may alter or drop them). Indexes, triggers and identity sequences follow
-- their tables; objects that belong to an extension are left alone. (A partition depends on its
-- table automatically, as an owned sequence does on its column, but has an owner of its own; a
-- partitioned table depends internally on its own partition key.)
DO $$
DECLARE
    relation record;
    routine record;
BEGIN
    FOR relation IN
        SELECT c.oid::regclass AS name,
               CASE c.relkind
                   WHEN 'S' THEN 'SEQUENCE'
                   WHEN 'v' THEN 'VIEW'
                   WHEN 'm' THEN 'MATERIALIZED VIEW'
                   WHEN 'f' THEN 'FOREIGN TABLE'
                   ELSE 'TABLE'
               END AS kind
        FROM pg_catalog.pg_class c
        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('public', 'read')
          AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
          AND c.relowner <> 'aequatio_migrator'::regrole
          AND NOT EXISTS (
              SELECT FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_class'::regclass
                AND d.objid = c.oid
                AND d.refobjid <> c.oid
                AND (d.deptype IN ('e', 'i') OR (d.deptype = 'a' AND NOT c.relispartition))
          )
    LOOP
        EXECUTE format('ALTER %s %s OWNER TO aequatio_migrator', relation.kind, relation.name);
    END LOOP;

    FOR routine IN
        SELECT p.oid::regprocedure AS signature
        FROM pg_catalog.pg_proc p
        JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname IN ('public', 'read')
          AND p.proowner <> 'aequatio_migrator'::regrole
          AND NOT EXISTS (
              SELECT FROM pg_catalog.pg_depend d
              WHERE d.classid = 'pg_catalog.pg_proc'::regclass
                AND d.objid = p.oid
                AND d.deptype = 'e'
          )
    LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO aequatio_migrator', routine.signature);
    END LOOP;
END
$$;

-- 5. The writer: the command side, the outbox dispatcher, the projections and the sagas.
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO aequatio_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO aequatio_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA read TO aequatio_writer;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA read TO aequatio_writer;

-- Tables that need more, or less, than the rule above (each only once it exists).
DO $$
BEGIN
    -- The event store is append-only (its trigger refuses changes, the grants too).
    IF to_regclass('public.events_store') IS NOT NULL THEN
        REVOKE ALL ON public.events_store FROM aequatio_writer;
        GRANT SELECT, INSERT ON public.events_store TO aequatio_writer;
    END IF;
    -- Alembic's bookkeeping: `aequatio serve` checks the revision; only the migrator moves it.
    IF to_regclass('public.alembic_version') IS NOT NULL THEN
        REVOKE ALL ON public.alembic_version FROM aequatio_writer;
        GRANT SELECT ON public.alembic_version TO aequatio_writer;
    END IF;
    -- The dispatcher prunes published outbox rows.
    IF to_regclass('public.events_outbox') IS NOT NULL THEN
        GRANT DELETE ON public.events_outbox TO aequatio_writer;
    END IF;
    -- An amended expense replaces its open-month postings.
    IF to_regclass('public.expense_postings') IS NOT NULL THEN
        GRANT DELETE ON public.expense_postings TO aequatio_writer;
    END IF;
END
$$;

-- 6. The API reader: the projections, read-only.
GRANT SELECT ON ALL TABLES IN SCHEMA read TO aequatio_api_reader;

-- 7. Tables the migrator creates from now on get the same grants. (Run by a superuser; the
-- per-table exceptions of step 5 need this file run again after the migration creates them.)
ALTER DEFAULT PRIVILEGES FOR ROLE aequatio_migrator IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE ON TABLES TO aequatio_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE aequatio_migrator IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO aequatio_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE aequatio_migrator IN SCHEMA read
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO aequatio_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE aequatio_migrator IN SCHEMA read
    GRANT USAGE, SELECT ON SEQUENCES TO aequatio_writer;
ALTER DEFAULT PRIVILEGES FOR ROLE aequatio_migrator IN SCHEMA read
    GRANT SELECT ON TABLES TO aequatio_api_reader;
-- Functions are executable by PUBLIC by default; nothing here calls them directly (the
-- triggers run as part of the statement), so none is needed.
