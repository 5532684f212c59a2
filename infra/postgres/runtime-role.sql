-- One runtime role of one database: a login that reads rows (access=read) or reads and writes
-- them (access=write), and never changes the schema: it owns nothing and may create nothing.
--
-- Run it as the database's owner (the role `db-migrate` connects as), connected to that database:
-- the grants on tables made later come from the owner's default privileges, so every table a
-- migration adds is covered. It can run again at any time: a missing role is created, an existing
-- one gets the password given and exactly the access asked for.
--
--   RUNTIME_ROLE_PASSWORD=... psql "$OWNER_URL" -v role=bybit_general_api -v access=read \
--     -f infra/postgres/runtime-role.sql
--
-- The password comes from the environment (psql 15 or newer), never from the command line.
\set ON_ERROR_STOP on
\set QUIET on

\getenv password RUNTIME_ROLE_PASSWORD
\if :{?role}
\else
  \warn 'runtime-role.sql: give the role: -v role=NAME'
  SELECT 1 / 0 AS role_is_missing;
\endif
\if :{?password}
\else
  \warn 'runtime-role.sql: RUNTIME_ROLE_PASSWORD is not set'
  SELECT 1 / 0 AS password_is_missing;
\endif
\if :{?access}
\else
  \set access none
\endif
SELECT :'access' = 'write' AS writes, :'access' IN ('read', 'write') AS known_access \gset
\if :known_access
\else
  \warn 'runtime-role.sql: access must be read or write'
  SELECT 1 / 0 AS access_is_unknown;
\endif

-- Created without attributes: no superuser, no CREATEDB, no CREATEROLE, no replication.
SELECT format('CREATE ROLE %I LOGIN', :'role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';

-- Nothing may create objects in the schema but its owner (PostgreSQL 15's default, made sure of).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), :'role') \gexec
GRANT USAGE ON SCHEMA public TO :"role";

-- Rows: read, and for writers insert, update and delete; TRUNCATE and REFERENCES for no one.
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"role";
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO :"role";
\if :writes
  GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"role";
  GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"role";
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT INSERT, UPDATE, DELETE ON TABLES TO :"role";
  ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"role";
\else
  -- A role that once wrote (run before with access=write) reads only from now on.
  REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public FROM :"role";
  REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM :"role";
  ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE INSERT, UPDATE, DELETE ON TABLES FROM :"role";
  ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM :"role";
\endif

\echo :role: :access access to :DBNAME
