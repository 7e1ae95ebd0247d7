-- pipemon schema, version 5: the same CHECK constraints on events.status,
-- run_state.term_status and pipelines.priority(_override), written as comparisons.
--
-- SQLite evaluates `x IN ('a', 'b', 'c', ...)` in a CHECK by building a temporary
-- index of the list each time an INSERT or UPDATE statement runs; on the import path,
-- one row per statement, that was a sixth of the writer's time. A chain of `=` tests
-- accepts exactly the same values, so no row needs rewriting: only the stored
-- CREATE TABLE text changes (SQLite's documented way to change a CHECK constraint,
-- "ALTER TABLE", section "Making Other Kinds Of Table Schema Changes"). The
-- migration runner bumps the schema cookie afterwards so that every open connection
-- reloads the schema.
PRAGMA writable_schema = ON;

UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (status IN
                        (''started'',''running'',''success'',''failed'',''retrying'',''cancelled'',''skipped'',''other''))',
    'CHECK (status = ''started'' OR status = ''running'' OR status = ''success''
                        OR status = ''failed'' OR status = ''retrying'' OR status = ''cancelled''
                        OR status = ''skipped'' OR status = ''other'')')
WHERE type = 'table' AND name = 'events';

UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (term_status IN (''success'',''failed'',''cancelled'',''skipped''))',
    'CHECK (term_status = ''success'' OR term_status = ''failed''
                             OR term_status = ''cancelled'' OR term_status = ''skipped'')')
WHERE type = 'table' AND name = 'run_state';

UPDATE sqlite_schema
SET sql = replace(sql,
    'priority       TEXT CHECK (priority IN (''critical'',''high'',''medium'',''low''))',
    'priority       TEXT CHECK (priority = ''critical'' OR priority = ''high''
                                OR priority = ''medium'' OR priority = ''low'')')
WHERE type = 'table' AND name = 'pipelines';

UPDATE sqlite_schema
SET sql = replace(sql,
    'CHECK (priority_override IN (''critical'',''high'',''medium'',''low''))',
    'CHECK (priority_override = ''critical'' OR priority_override = ''high''
                                      OR priority_override = ''medium'' OR priority_override = ''low'')')
WHERE type = 'table' AND name = 'pipelines';

PRAGMA writable_schema = OFF;
