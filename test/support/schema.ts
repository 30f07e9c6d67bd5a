import { Client } from 'pg';

/**
 * A catalog description of what the project puts in a database, in plain JSON so that two of them
 * can be compared with `toEqual` or `diffSchemas`. It names everything by name (never by oid) and
 * leaves out what legitimately differs between two databases built the same way (oids, data).
 */
export interface ColumnDescription {
  position: number;
  type: string;
  notNull: boolean;
  default: string | null;
  identity: string;
  generated: string;
  collation: string | null;
  comment: string | null;
}

export interface TableDescription {
  kind: string;
  owner: string;
  rowSecurity: boolean;
  forceRowSecurity: boolean;
  comment: string | null;
  columns: Record<string, ColumnDescription>;
  indexes: Record<string, { def: string; comment: string | null }>;
  constraints: Record<string, { type: string; def: string; deferrable: boolean; comment: string | null }>;
  policies: Record<
    string,
    { cmd: string; permissive: string; roles: string[]; qual: string | null; withCheck: string | null; comment: string | null }
  >;
  triggers: Record<string, { def: string; enabled: string; comment: string | null }>;
  /** Table- and column-level privileges: `grantee PRIVILEGE[(column)][ WITH GRANT OPTION] (by grantor)`, sorted. */
  grants: string[];
}

export interface FunctionDescription {
  kind: string;
  owner: string;
  securityDefiner: boolean;
  config: string[];
  volatility: string;
  language: string;
  result: string;
  definition: string;
  /** `grantee EXECUTE[ WITH GRANT OPTION] (by grantor)`, sorted; PUBLIC when granted to everyone. */
  grants: string[];
  comment: string | null;
}

export interface SchemaDescription {
  schema: { owner: string; grants: string[] };
  extensions: Record<string, { version: string; schema: string }>;
  tables: Record<string, TableDescription>;
  functions: Record<string, FunctionDescription>;
  types: Record<string, { kind: string; def: string }>;
}

const RELKINDS = `('r', 'p', 'v', 'm', 'S', 'f')`;

/** Describes the `public` schema (or only `tables`, when given). */
export async function describeSchema(client: Client, options: { tables?: string[] } = {}): Promise<SchemaDescription> {
  const schema = await one<{ owner: string; grants: string[] }>(
    client,
    `select pg_get_userbyid(n.nspowner) as owner,
            coalesce((select array_agg(${grantText('a')}) from aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a), '{}') as grants
       from pg_namespace n where n.nspname = 'public'`,
  );

  schema.grants = [...schema.grants].sort();

  const extensions: SchemaDescription['extensions'] = {};
  for (const e of await rows<{ extname: string; extversion: string; schema: string }>(
    client,
    `select e.extname, e.extversion, n.nspname as schema
       from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname <> 'plpgsql' order by 1`,
  )) {
    extensions[e.extname] = { version: e.extversion, schema: e.schema };
  }

  const relations = await rows<{ oid: number; relname: string }>(
    client,
    `select c.oid, c.relname from pg_class c
      where c.relnamespace = 'public'::regnamespace and c.relkind in ${RELKINDS}
        and ($1::text[] is null or c.relname = any($1::text[]))
        and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
      order by c.relname`,
    [options.tables ?? null],
  );
  const tables: SchemaDescription['tables'] = {};
  for (const rel of relations) tables[rel.relname] = await describeTable(client, rel.oid);

  const functions: SchemaDescription['functions'] = {};
  const types: SchemaDescription['types'] = {};
  if (!options.tables) {
    for (const f of await rows<FunctionDescription & { signature: string }>(
      client,
      `select p.oid::regprocedure::text as signature,
              p.prokind as kind,
              pg_get_userbyid(p.proowner) as owner,
              p.prosecdef as "securityDefiner",
              coalesce(p.proconfig, '{}')::text[] as config,
              p.provolatile as volatility,
              l.lanname as language,
              pg_get_function_result(p.oid) as result,
              case when p.prokind in ('f', 'p', 'w') then pg_get_functiondef(p.oid) else p.prosrc end as definition,
              coalesce((select array_agg(${grantText('a')}) from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a), '{}') as grants,
              obj_description(p.oid, 'pg_proc') as comment
         from pg_proc p join pg_language l on l.oid = p.prolang
        where p.pronamespace = 'public'::regnamespace
          and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
        order by 1`,
    )) {
      const { signature, ...rest } = f;
      functions[signature] = { ...rest, grants: [...rest.grants].sort() };
    }
    for (const t of await rows<{ typname: string; kind: string; def: string }>(
      client,
      `select t.typname, t.typtype as kind,
              case t.typtype
                when 'e' then (select string_agg(e.enumlabel, ',' order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid)
                when 'd' then format_type(t.typbasetype, t.typtypmod) || coalesce(' ' || (select string_agg(pg_get_constraintdef(c.oid), ' ' order by c.conname) from pg_constraint c where c.contypid = t.oid), '')
                else format_type(t.oid, null)
              end as def
         from pg_type t
        where t.typnamespace = 'public'::regnamespace and t.typtype in ('e', 'd', 'r', 'm')
           or (t.typnamespace = 'public'::regnamespace and t.typtype = 'c'
               and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')
        order by 1`,
    )) {
      types[t.typname] = { kind: t.kind, def: t.def };
    }
  }

  return { schema, extensions, tables, functions, types };
}

async function describeTable(client: Client, oid: number): Promise<TableDescription> {
  const table = await one<{ kind: string; owner: string; rowSecurity: boolean; forceRowSecurity: boolean; comment: string | null }>(
    client,
    `select c.relkind as kind, pg_get_userbyid(c.relowner) as owner, c.relrowsecurity as "rowSecurity",
            c.relforcerowsecurity as "forceRowSecurity", obj_description(c.oid, 'pg_class') as comment
       from pg_class c where c.oid = $1`,
    [oid],
  );

  const columns: TableDescription['columns'] = {};
  for (const c of await rows<ColumnDescription & { name: string }>(
    client,
    `select a.attname as name,
            (row_number() over (order by a.attnum))::int as position,
            format_type(a.atttypid, a.atttypmod) as type,
            a.attnotnull as "notNull",
            pg_get_expr(d.adbin, d.adrelid) as default,
            a.attidentity as identity,
            a.attgenerated as generated,
            case when a.attcollation <> 0 and a.attcollation <> t.typcollation then (select collname from pg_collation where oid = a.attcollation) end as collation,
            col_description(a.attrelid, a.attnum) as comment
       from pg_attribute a
       join pg_type t on t.oid = a.atttypid
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
      order by a.attnum`,
    [oid],
  )) {
    const { name, ...rest } = c;
    columns[name] = rest;
  }

  const indexes: TableDescription['indexes'] = {};
  for (const i of await rows<{ name: string; def: string; comment: string | null }>(
    client,
    `select ic.relname as name, pg_get_indexdef(i.indexrelid) as def, obj_description(i.indexrelid, 'pg_class') as comment
       from pg_index i join pg_class ic on ic.oid = i.indexrelid
      where i.indrelid = $1 order by 1`,
    [oid],
  )) {
    indexes[i.name] = { def: i.def, comment: i.comment };
  }

  const constraints: TableDescription['constraints'] = {};
  for (const k of await rows<{ name: string; type: string; def: string; deferrable: boolean; comment: string | null }>(
    client,
    `select c.conname as name, c.contype as type, pg_get_constraintdef(c.oid) as def,
            c.condeferrable as deferrable, obj_description(c.oid, 'pg_constraint') as comment
       from pg_constraint c where c.conrelid = $1 order by 1`,
    [oid],
  )) {
    const { name, ...rest } = k;
    constraints[name] = rest;
  }

  const policies: TableDescription['policies'] = {};
  for (const p of await rows<{ name: string } & TableDescription['policies'][string]>(
    client,
    `select p.policyname as name, p.cmd, p.permissive, p.roles::text[] as roles, p.qual, p.with_check as "withCheck",
            (select obj_description(pp.oid, 'pg_policy') from pg_policy pp where pp.polrelid = $1 and pp.polname = p.policyname) as comment
       from pg_policies p
      where p.schemaname = (select relnamespace::regnamespace::text from pg_class where oid = $1)
        and p.tablename = (select relname from pg_class where oid = $1)
      order by 1`,
    [oid],
  )) {
    const { name, ...rest } = p;
    policies[name] = { ...rest, roles: [...rest.roles].sort() };
  }

  const triggers: TableDescription['triggers'] = {};
  for (const t of await rows<{ name: string; def: string; enabled: string; comment: string | null }>(
    client,
    `select t.tgname as name, pg_get_triggerdef(t.oid) as def, t.tgenabled as enabled, obj_description(t.oid, 'pg_trigger') as comment
       from pg_trigger t where t.tgrelid = $1 and not t.tgisinternal order by 1`,
    [oid],
  )) {
    const { name, ...rest } = t;
    triggers[name] = rest;
  }

  const grants = (
    await rows<{ g: string }>(
      client,
      `select ${grantText('a')} as g
         from pg_class c, aclexplode(coalesce(c.relacl, acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner))) a
        where c.oid = $1
       union all
       select ${grantText('a', 'att.attname')}
         from pg_attribute att, aclexplode(att.attacl) a
        where att.attrelid = $1 and att.attnum > 0 and not att.attisdropped and att.attacl is not null
       order by 1`,
      [oid],
    )
  )
    .map((r) => r.g)
    .sort();

  return { ...table, columns, indexes, constraints, policies, triggers, grants };
}

/** `grantee PRIVILEGE[(column)][ WITH GRANT OPTION] (by grantor)` for a row of aclexplode. */
function grantText(a: string, column?: string): string {
  const grantee = `case when ${a}.grantee = 0 then 'PUBLIC' else pg_get_userbyid(${a}.grantee) end`;
  const privilege = column ? `${a}.privilege_type || '(' || ${column} || ')'` : `${a}.privilege_type`;
  return `${grantee} || ' ' || ${privilege} || case when ${a}.is_grantable then ' WITH GRANT OPTION' else '' end || ' (by ' || pg_get_userbyid(${a}.grantor) || ')'`;
}

export interface SchemaDifference {
  path: string;
  left: unknown;
  right: unknown;
}

/**
 * Every place where `left` and `right` differ, as dotted paths. Objects are compared key by key;
 * arrays and scalars as whole values; a key present on one side only is one difference carrying
 * the whole subtree (`undefined` on the other side).
 */
export function diffSchemas(left: unknown, right: unknown, path = ''): SchemaDifference[] {
  if (isRecord(left) && isRecord(right)) {
    const keys = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort();
    return keys.flatMap((key) => diffSchemas(left[key], right[key], path ? `${path}.${key}` : key));
  }
  return JSON.stringify(left) === JSON.stringify(right) ? [] : [{ path, left, right }];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function rows<T>(client: Client, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await client.query(sql, params)).rows as T[];
}

async function one<T>(client: Client, sql: string, params: unknown[] = []): Promise<T> {
  const result = await rows<T>(client, sql, params);
  if (result.length !== 1) throw new Error(`expected one row, got ${result.length}: ${sql}`);
  return result[0];
}
