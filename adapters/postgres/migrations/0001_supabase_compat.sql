-- What Supabase provides and our schema relies on, created only where it is absent, so the same
-- migrations run unchanged on a Supabase project and on a plain PostgreSQL (15+).
-- Nothing here replaces or alters an object Supabase already has.

-- The API roles PostgREST switches to. Roles are cluster-wide: several databases of one cluster
-- (parallel test databases, for one) may run this at the same moment, so a concurrent creation
-- that wins the race is not an error. NOLOGIN: on plain PostgreSQL nobody signs in as them; the
-- service connects as the table owner, and tests impersonate them with SET ROLE.
do $$
declare
  api_role text;
begin
  foreach api_role in array array['anon', 'authenticated', 'service_role'] loop
    if not exists (select 1 from pg_catalog.pg_roles where rolname = api_role) then
      begin
        execute format('create role %I nologin', api_role);
      exception
        when duplicate_object or unique_violation then
          null; -- another database of this cluster created it a moment ago
      end;
    end if;
  end loop;
end
$$;

-- The auth schema. When we create it, the API roles need USAGE to call auth.uid() in policies;
-- Supabase's own schema already grants that, and is left untouched.
do $$
begin
  if not exists (select 1 from pg_catalog.pg_namespace where nspname = 'auth') then
    create schema auth;
    grant usage on schema auth to anon, authenticated, service_role;
  end if;
end
$$;

-- auth.uid(): the caller's user id, the `sub` claim of the request's JWT, exactly as Supabase
-- defines it (PostgREST sets request.jwt.claims; older versions set request.jwt.claim.sub).
-- Created only when absent: never replace Supabase's own.
do $$
begin
  if not exists (
    select 1
    from pg_catalog.pg_proc p
    join pg_catalog.pg_namespace n on n.oid = p.pronamespace
    where n.nspname = 'auth' and p.proname = 'uid' and p.pronargs = 0
  ) then
    create function auth.uid() returns uuid
      language sql
      stable
    as $fn$
      select coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $fn$;
  end if;
end
$$;
