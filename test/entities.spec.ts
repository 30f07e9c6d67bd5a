import { EntityClass, EntityMetadata, EntityProperty, MikroORM, ReferenceKind } from '@mikro-orm/core';
import { ReflectMetadataProvider } from '@mikro-orm/decorators/legacy';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { AUTH_ENTITIES as ENTITIES } from '../src/auth/orm-options';
import { Session } from '../src/sessions/session.entity';
import { User } from '../src/users/user.entity';
import { createTestDatabase, TestDatabase } from './support/test-database';

const ENTITY_CLASSES: Record<'User' | 'Session', EntityClass<object>> = { User, Session };

interface ColumnShape {
  type: string;
  nullable: boolean;
}

/** PostgreSQL's spelling of a type, shortened to how entities write `columnType`. */
const SHORT_TYPES: Record<string, string> = { 'timestamp with time zone': 'timestamptz' };

/** `'unknown'::text` → `'unknown'`: the cast PostgreSQL adds to a literal default. */
const normalizeDefault = (expr: string | null): string | null => (expr === null ? null : expr.replace(/::(text|boolean|uuid)$/, ''));

const PERSISTED_KINDS = new Set<string>([ReferenceKind.SCALAR, ReferenceKind.MANY_TO_ONE, ReferenceKind.ONE_TO_ONE, ReferenceKind.EMBEDDED]);

/** Every column an entity writes, with the type and nullability it declares. */
function persistedProps(meta: EntityMetadata): EntityProperty[] {
  return meta.props.filter((p) => p.persist !== false && PERSISTED_KINDS.has(p.kind) && !(p.kind === ReferenceKind.ONE_TO_ONE && !p.owner));
}

function entityColumns(meta: EntityMetadata): Record<string, ColumnShape> {
  const columns: Record<string, ColumnShape> = {};
  for (const prop of persistedProps(meta)) {
    prop.fieldNames.forEach((field, i) => {
      if (field in columns) throw new Error(`${meta.className}: column ${field} is mapped twice`);
      columns[field] = { type: String(prop.columnTypes?.[i]).toLowerCase(), nullable: prop.nullable === true };
    });
  }
  return columns;
}

function entityDefaults(meta: EntityMetadata): Record<string, string | null> {
  const defaults: Record<string, string | null> = {};
  for (const prop of persistedProps(meta)) {
    for (const field of prop.fieldNames) defaults[field] = prop.defaultRaw ?? null;
  }
  return defaults;
}

describe('MikroORM entities mirror the migrated tables', () => {
  let db: TestDatabase;
  let orm: MikroORM;

  const tableColumns = (table: string) =>
    db.asOwner(async (c) => {
      const { rows } = await c.query<{ name: string; type: string; not_null: boolean; default: string | null }>(
        `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null,
                pg_get_expr(d.adbin, d.adrelid) as default
           from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped order by a.attnum`,
        [`public.${table}`],
      );
      if (rows.length === 0) throw new Error(`table ${table} has no columns`);
      const shapes: Record<string, ColumnShape> = {};
      const defaults: Record<string, string | null> = {};
      for (const r of rows) {
        shapes[r.name] = { type: SHORT_TYPES[r.type] ?? r.type, nullable: !r.not_null };
        defaults[r.name] = normalizeDefault(r.default);
      }
      return { shapes, defaults };
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = await MikroORM.init({
      driver: PostgreSqlDriver,
      clientUrl: db.runtimeUrl,
      entities: ENTITIES,
      metadataProvider: ReflectMetadataProvider,
      debug: false,
      allowGlobalContext: false,
      pool: { min: 0, max: 1 },
    });
  });

  afterAll(async () => {
    await orm?.close(true);
    await db?.drop();
  });

  describe.each([
    ['User', 'users'],
    ['Session', 'sessions'],
  ])('%s', (entity, table) => {
    it(`maps to "${table}" with exactly its columns: same names, column types and nullability, none missing or extra`, async () => {
      const meta = orm.getMetadata().get(ENTITY_CLASSES[entity as 'User' | 'Session']);
      expect(meta.tableName).toBe(table);
      const { shapes } = await tableColumns(table);
      // Guard against a vacuous pass: the types the brief names all occur across the two tables.
      expect(Object.values(shapes).every((s) => ['uuid', 'text', 'inet', 'timestamptz', 'boolean'].includes(s.type))).toBe(true);
      expect(entityColumns(meta)).toEqual(shapes);
    });

    it('declares the same column defaults as the database', async () => {
      const { defaults } = await tableColumns(table);
      expect(entityDefaults(orm.getMetadata().get(ENTITY_CLASSES[entity as 'User' | 'Session']))).toEqual(defaults);
    });

    it('has the same primary key as the table', async () => {
      const pk = await db.asOwner(
        async (c) =>
          (
            await c.query<{ name: string }>(
              `select a.attname as name from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
                where i.indrelid = $1::regclass and i.indisprimary order by a.attnum`,
              [`public.${table}`],
            )
          ).rows.map((r) => r.name),
      );
      const meta = orm.getMetadata().get(ENTITY_CLASSES[entity as 'User' | 'Session']);
      expect(meta.primaryKeys.flatMap((name) => (meta.properties as Record<string, EntityProperty>)[name].fieldNames)).toEqual(pk);
    });
  });

  it('Session.userId is the sessions.user_id foreign key to users.id with ON DELETE CASCADE', async () => {
    const fks = await db.asOwner(
      async (c) =>
        (
          await c.query(
            `select (select array_agg(attname order by attnum) from pg_attribute where attrelid = k.conrelid and attnum = any(k.conkey))::text[] as columns,
                    k.confrelid::regclass::text as target,
                    (select array_agg(attname order by attnum) from pg_attribute where attrelid = k.confrelid and attnum = any(k.confkey))::text[] as target_columns,
                    k.confdeltype::text as on_delete
               from pg_constraint k where k.conrelid = 'public.sessions'::regclass and k.contype = 'f'`,
          )
        ).rows,
    );
    expect(fks).toEqual([{ columns: ['user_id'], target: 'users', target_columns: ['id'], on_delete: 'c' }]);
    const prop = orm.getMetadata().get(ENTITY_CLASSES.Session).props.find((p) => p.name === 'userId');
    expect(prop).toMatchObject({ kind: ReferenceKind.MANY_TO_ONE, fieldNames: ['user_id'], deleteRule: 'cascade' });
    expect(prop?.targetMeta?.tableName).toBe('users');
    expect(prop?.referencedColumnNames).toEqual(['id']);
  });
});
