import SwaggerParser from '@apidevtools/swagger-parser';
import { createHmac, randomUUID } from 'node:crypto';
import { AppRoute, appRoutes, openApiPath } from './support/app-routes';
import { REFRESH_COOKIE } from '../src/auth/refresh-cookie';
import { setUserRole } from '../src/users/user-roles';
import { bearer, login, newUser, Tokens } from './support/factories';
import { createTestApp, TestApp } from './support/test-app';

/**
 * The OpenAPI document at /docs-json is complete: it matches the routes Nest really serves (found
 * through Nest's own discovery, not the document), and every route documents success, errors,
 * security and non-empty, example-filled schemas.
 */

type Json = Record<string, unknown>;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const ERROR_DTO_REF = '#/components/schemas/ErrorDto';
const HEALTH_DTO_REF = '#/components/schemas/HealthDto';

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Follows a local `#/components/...` reference (once per hop) until it reaches an object. */
function deref(doc: Json, value: unknown): Json {
  let current = value;
  for (let hops = 0; isObject(current) && typeof current.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`Reference cycle at ${String(current.$ref)}`);
    const ref = current.$ref;
    if (!ref.startsWith('#/')) throw new Error(`Non-local reference ${ref}`);
    current = ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, segment) => (isObject(node) ? node[segment.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined), doc);
    if (current === undefined) throw new Error(`Unresolvable reference ${ref}`);
  }
  if (!isObject(current)) throw new Error('Expected an object');
  return current;
}

interface Operation {
  key: string;
  path: string;
  method: string;
  op: Json;
}

function documentedOperations(doc: Json): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
    for (const method of HTTP_METHODS) {
      const op = item[method];
      if (isObject(op)) out.push({ key: `${method.toUpperCase()} ${path}`, path, method, op });
    }
  }
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

function responsesOf(doc: Json, op: Json): Array<[string, Json]> {
  return Object.entries((op.responses ?? {}) as Record<string, unknown>).map(([code, r]) => [code, deref(doc, r)]);
}

const isSuccess = (code: string): boolean => /^2(\d\d|XX)$/.test(code);
const isError = (code: string): boolean => /^[45](\d\d|XX)$/.test(code);

/** Problems with one schema (and everything nested in it): empty, untyped, or property-less objects. */
function schemaProblems(doc: Json, schema: unknown, where: string): string[] {
  if (!isObject(schema)) return [`${where}: not a schema object`];
  if (typeof schema.$ref === 'string') {
    try {
      deref(doc, schema);
      return [];
    } catch (err) {
      return [`${where}: ${(err as Error).message}`];
    }
  }
  const problems: string[] = [];
  const shapeKeys = ['type', 'oneOf', 'anyOf', 'allOf', 'enum', 'not'];
  if (!shapeKeys.some((k) => k in schema)) problems.push(`${where}: no type, $ref, oneOf, anyOf, allOf or enum`);
  for (const k of ['oneOf', 'anyOf', 'allOf']) {
    if (!(k in schema)) continue;
    const members = schema[k];
    if (!Array.isArray(members) || members.length === 0) problems.push(`${where}.${k}: empty`);
    else members.forEach((m, i) => problems.push(...schemaProblems(doc, m, `${where}.${k}[${i}]`)));
  }
  if (schema.type === 'array') {
    if (schema.items === undefined) problems.push(`${where}: array without items`);
    else problems.push(...schemaProblems(doc, schema.items, `${where}.items`));
  }
  if (schema.type === 'object' || 'properties' in schema) {
    const properties = isObject(schema.properties) ? schema.properties : {};
    const additional = schema.additionalProperties;
    const intentionallyOpen = additional !== undefined && additional !== false;
    if (Object.keys(properties).length === 0 && !intentionallyOpen) problems.push(`${where}: object without properties`);
    if (isObject(additional)) problems.push(...schemaProblems(doc, additional, `${where}.additionalProperties`));
    for (const [name, prop] of Object.entries(properties)) problems.push(...schemaProblems(doc, prop, `${where}.${name}`));
  }
  return problems;
}

/** Every string anywhere in `value`, split on whitespace and quoting so tokens inside prose count too. */
function allStringTokens(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(...value.split(/[\s`'"()<>[\],;]+/).filter(Boolean));
  else if (Array.isArray(value)) value.forEach((v) => allStringTokens(v, out));
  else if (isObject(value)) Object.values(value).forEach((v) => allStringTokens(v, out));
  return out;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function decodesToJsonObject(part: string): boolean {
  try {
    return isObject(JSON.parse(Buffer.from(part, 'base64url').toString('utf8')));
  } catch {
    return false;
  }
}

/** Three base64url parts whose header and payload both decode to JSON objects: usable as a real token. */
function isDecodableJwt(token: string): boolean {
  if (!JWT_SHAPE.test(token)) return false;
  const [header, payload] = token.split('.');
  return decodesToJsonObject(header) && decodesToJsonObject(payload);
}

/** A JWT some developer might paste into an example: HS256-signed, real header and payload. */
function realLookingJwt(): string {
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const unsigned = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc({ sub: '506b8960-b76f-48bb-be3c-66eb59a1b656', sid: 'x', exp: 1 })}`;
  return `${unsigned}.${createHmac('sha256', 'secret').update(unsigned).digest('base64url')}`;
}

describe('OpenAPI document (GET /docs-json)', () => {
  let t: TestApp;
  let doc: Json;
  let routes: AppRoute[];
  let operations: Operation[];

  beforeAll(async () => {
    t = await createTestApp();
    const res = await t.http.get('/docs-json').expect(200).expect('Content-Type', /application\/json/);
    doc = res.body as Json;
    routes = appRoutes(t.app)
      .map((r) => ({ ...r, path: openApiPath(r.path), key: `${r.method} ${openApiPath(r.path)}` }))
      .sort((a, b) => a.key.localeCompare(b.key));
    operations = documentedOperations(doc);
  });

  afterAll(async () => {
    await t?.close();
  });

  const routeOps = (): Array<{ route: AppRoute; op: Json }> =>
    routes.flatMap((route) => {
      const found = operations.find((o) => o.key === route.key);
      return found ? [{ route, op: found.op }] : [];
    });

  it('is an OpenAPI 3 document that @apidevtools/swagger-parser validates', async () => {
    expect(String(doc.openapi)).toMatch(/^3\.\d+\.\d+$/);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  describe('routes', () => {
    it('Nest discovery finds the controllers\' routes, with :params as {params}', () => {
      // Guards the enumeration itself: if it found nothing, the coverage checks below would pass vacuously.
      expect(routes.map((r) => r.key)).toEqual(expect.arrayContaining(['GET /health', 'POST /auth/login', 'GET /sessions/{id}']));
    });

    it('documents every route the app serves', () => {
      const documented = new Set(operations.map((o) => o.key));
      expect(routes.map((r) => r.key).filter((k) => !documented.has(k))).toEqual([]);
    });

    it('documents no route the app does not serve', () => {
      const served = new Set(routes.map((r) => r.key));
      expect(operations.map((o) => o.key).filter((k) => !served.has(k))).toEqual([]);
    });
  });

  describe('responses', () => {
    it('every route documents a 2xx response and at least one 4xx/5xx error response', () => {
      const problems = routeOps().flatMap(({ route, op }) => {
        const codes = Object.keys((op.responses ?? {}) as Json);
        return [
          ...(codes.some(isSuccess) ? [] : [`${route.key}: no 2xx response`]),
          ...(codes.some(isError) ? [] : [`${route.key}: no 4xx/5xx response`]),
        ];
      });
      expect(problems).toEqual([]);
    });

    it('every documented response has a non-empty description', () => {
      const problems = operations.flatMap(({ key, op }) =>
        responsesOf(doc, op)
          .filter(([, r]) => typeof r.description !== 'string' || r.description.trim() === '')
          .map(([code]) => `${key} ${code}: no description`),
      );
      expect(problems).toEqual([]);
    });

    it('every error response body is ErrorDto (the /health 503 is HealthDto)', () => {
      const problems = operations.flatMap(({ key, op }) =>
        responsesOf(doc, op)
          .filter(([code]) => isError(code))
          .flatMap(([code, r]) => {
            const expected = key === 'GET /health' && code === '503' ? HEALTH_DTO_REF : ERROR_DTO_REF;
            const content = isObject(r.content) ? r.content : {};
            const media = Object.entries(content);
            if (media.length === 0) return [`${key} ${code}: no body documented`];
            return media
              .filter(([, m]) => !isObject(m) || !isObject(m.schema) || m.schema.$ref !== expected)
              .map(([type]) => `${key} ${code} ${type}: schema is not ${expected}`);
          }),
      );
      expect(problems).toEqual([]);
    });
  });

  describe('400 examples', () => {
    /**
     * One bad input for each route that takes input, signed in where the route needs it. The 400
     * example documented for the route must be exactly what the route answers to it.
     */
    const BAD_INPUT: Record<string, (t: TestApp, tokens: Tokens) => ReturnType<TestApp['http']['get']>> = {
      'POST /auth/register': (t) => t.http.post('/auth/register').send({ email: 'not-an-email', password: 'long-enough-pw' }),
      'POST /auth/login': (t) => t.http.post('/auth/login').send({ email: 'ada@example.com', password: 'correct horse battery', deviceType: 'toaster' }),
      'POST /auth/refresh': (t) => t.http.post('/auth/refresh').send({ refreshToken: 'x'.repeat(600) }),
      'POST /auth/password': (t, tokens) => t.http.post('/auth/password').set(...bearer(tokens)).send({ currentPassword: 'whatever-it-was', newPassword: 'short' }),
      'GET /sessions/{id}': (t, tokens) => t.http.get('/sessions/not-a-uuid').set(...bearer(tokens)),
      'PATCH /sessions/{id}': (t, tokens) => t.http.patch(`/sessions/${randomUUID()}`).set(...bearer(tokens)).send({ deviceName: 'x'.repeat(101) }),
      'DELETE /sessions/{id}': (t, tokens) => t.http.delete('/sessions/not-a-uuid').set(...bearer(tokens)),
      'DELETE /sessions': (t, tokens) => t.http.delete('/sessions?includeCurrent=maybe').set(...bearer(tokens)),
      'GET /auth/events': (t, tokens) => t.http.get('/auth/events?limit=0').set(...bearer(tokens)),
      // The caller is an admin (below): for anyone else the admin routes answer 403 before looking at input.
      'GET /admin/users/{userId}/sessions': (t, tokens) => t.http.get('/admin/users/not-a-uuid/sessions').set(...bearer(tokens)),
      'DELETE /admin/users/{userId}/sessions': (t, tokens) => t.http.delete('/admin/users/not-a-uuid/sessions').set(...bearer(tokens)),
      'GET /admin/users/{userId}/events': (t, tokens) => t.http.get('/admin/users/not-a-uuid/events').set(...bearer(tokens)),
      'POST /admin/users/{userId}/deactivate': (t, tokens) => t.http.post('/admin/users/not-a-uuid/deactivate').set(...bearer(tokens)),
      'POST /admin/users/{userId}/reactivate': (t, tokens) => t.http.post('/admin/users/not-a-uuid/reactivate').set(...bearer(tokens)),
      'DELETE /admin/sessions/{sessionId}': (t, tokens) => t.http.delete('/admin/sessions/not-a-uuid').set(...bearer(tokens)),
      'GET /admin/sessions': (t, tokens) => t.http.get('/admin/sessions?ip=not-an-ip').set(...bearer(tokens)),
      'DELETE /admin/sessions': (t, tokens) => t.http.delete('/admin/sessions?ip=not-an-ip').set(...bearer(tokens)),
    };

    const takesInput = (op: Json): boolean => op.requestBody !== undefined || (Array.isArray(op.parameters) && op.parameters.length > 0);
    const example400 = (op: Json): unknown => {
      const response = deref(doc, ((op.responses ?? {}) as Json)['400']);
      return ((response.content as Json)['application/json'] as Json).example;
    };

    it('documents a 400 exactly on the routes that take input (a body, a path parameter or a query)', () => {
      const problems = operations.flatMap(({ key, op }) => {
        const has400 = '400' in ((op.responses ?? {}) as Json);
        if (takesInput(op) && !has400) return [`${key}: takes input but documents no 400`];
        if (!takesInput(op) && has400) return [`${key}: takes no input but documents a 400 ${JSON.stringify(example400(op))}`];
        return [];
      });
      expect(problems).toEqual([]);
      expect(operations.filter(({ op }) => '400' in ((op.responses ?? {}) as Json)).map(({ key }) => key).sort()).toEqual(Object.keys(BAD_INPUT).sort());
    });

    it('each 400 example is the answer its route gives to a bad input', async () => {
      const user = await newUser(t.http);
      await setUserRole(t.db.ownerUrl, user.email, 'admin');
      const tokens = await login(t.http, user);
      const mismatches: string[] = [];
      for (const [key, send] of Object.entries(BAD_INPUT)) {
        const op = operations.find((o) => o.key === key);
        if (!op) {
          mismatches.push(`${key}: not documented`);
          continue;
        }
        const res = await send(t, tokens);
        if (res.status !== 400 || JSON.stringify(res.body) !== JSON.stringify(example400(op.op))) {
          mismatches.push(`${key}: documents ${JSON.stringify(example400(op.op))}, answers ${res.status} ${JSON.stringify(res.body)}`);
        }
      }
      expect(mismatches).toEqual([]);
    });
  });

  describe('security', () => {
    const effectiveSecurity = (op: Json): Json[] => ((op.security ?? doc.security ?? []) as Json[]).filter(isObject);

    it('declares the bearer scheme as HTTP bearer with JWT format', () => {
      const schemes = ((doc.components as Json | undefined)?.securitySchemes ?? {}) as Json;
      expect(schemes.bearer).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' }));
    });

    it('every route behind the global guard requires the bearer scheme and documents a 401', () => {
      const guarded = routeOps().filter(({ route }) => !route.isPublic);
      expect(guarded.length).toBeGreaterThan(0);
      const problems = guarded.flatMap(({ route, op }) => [
        ...(effectiveSecurity(op).some((req) => Array.isArray(req.bearer)) ? [] : [`${route.key}: no bearer security requirement`]),
        ...('401' in ((op.responses ?? {}) as Json) ? [] : [`${route.key}: no 401 response`]),
      ]);
      expect(problems).toEqual([]);
    });

    it('declares the refresh-token cookie as an apiKey scheme in: cookie', () => {
      const schemes = ((doc.components as Json | undefined)?.securitySchemes ?? {}) as Json;
      expect(schemes.refreshCookie).toEqual(expect.objectContaining({ type: 'apiKey', in: 'cookie', name: REFRESH_COOKIE }));
    });

    it('the routes the refresh cookie authenticates (those with the CSRF guard) list the cookie as one way in, the other way in, and their 401 and 403', () => {
      const cookieRoutes = routeOps().filter(({ route }) => route.acceptsRefreshCookie);
      expect(cookieRoutes.map(({ route }) => route.key).sort()).toEqual(['POST /auth/logout', 'POST /auth/refresh']);
      const alternatives = (op: Json): string[] => effectiveSecurity(op).map((req) => Object.keys(req).sort().join('+')).sort();
      const problems = cookieRoutes.flatMap(({ route, op }) => {
        // Logout: the bearer token or the cookie. Refresh: the cookie, or nothing (the token in the body).
        const expected = route.key === 'POST /auth/logout' ? ['bearer', 'refreshCookie'] : ['', 'refreshCookie'];
        return [
          ...(JSON.stringify(alternatives(op)) === JSON.stringify(expected) ? [] : [`${route.key}: security ${JSON.stringify(effectiveSecurity(op))}`]),
          ...['401', '403'].filter((code) => !(code in ((op.responses ?? {}) as Json))).map((code) => `${route.key}: no ${code} response`),
        ];
      });
      expect(problems).toEqual([]);
    });

    it('every @Public() route that the refresh cookie does not authenticate has no security requirement', () => {
      const open = routeOps().filter(({ route }) => route.isPublic && !route.acceptsRefreshCookie);
      expect(open.map(({ route }) => route.key)).toEqual(expect.arrayContaining(['GET /health', 'POST /auth/login']));
      const problems = open
        .filter(({ op }) => effectiveSecurity(op).some((req) => Object.keys(req).length > 0))
        .map(({ route, op }) => `${route.key}: security ${JSON.stringify(effectiveSecurity(op))}`);
      expect(problems).toEqual([]);
    });
  });

  describe('schemas', () => {
    it('no schema is empty: every one has a type, $ref, oneOf or enum, and objects have typed properties', () => {
      const components = ((doc.components as Json | undefined)?.schemas ?? {}) as Json;
      const problems = Object.entries(components).flatMap(([name, schema]) => schemaProblems(doc, schema, `components.schemas.${name}`));
      for (const { key, op } of operations) {
        for (const p of ((op.parameters ?? []) as unknown[]).map((p) => deref(doc, p))) {
          problems.push(...schemaProblems(doc, p.schema, `${key} parameter ${String(p.name)}`));
        }
        if (op.requestBody !== undefined) {
          const content = deref(doc, op.requestBody).content;
          if (!isObject(content) || Object.keys(content).length === 0) problems.push(`${key} request body: no content`);
          else for (const [type, m] of Object.entries(content)) problems.push(...schemaProblems(doc, isObject(m) ? m.schema : undefined, `${key} request body ${type}`));
        }
        for (const [code, r] of responsesOf(doc, op)) {
          const content = isObject(r.content) ? r.content : {};
          if (isSuccess(code) && code !== '204' && Object.keys(content).length === 0) problems.push(`${key} ${code}: no body documented`);
          for (const [type, m] of Object.entries(content)) problems.push(...schemaProblems(doc, isObject(m) ? m.schema : undefined, `${key} ${code} ${type}`));
          for (const [name, h] of Object.entries(isObject(r.headers) ? r.headers : {})) {
            problems.push(...schemaProblems(doc, deref(doc, h).schema, `${key} ${code} header ${name}`));
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it('every request body property has an example, so "Try it out" is prefilled', () => {
      const withBody = operations.filter(({ op }) => op.requestBody !== undefined);
      expect(withBody.map((o) => o.key)).toEqual(expect.arrayContaining(['POST /auth/login', 'POST /auth/refresh']));
      const problems = withBody.flatMap(({ key, op }) =>
        Object.entries((deref(doc, op.requestBody).content ?? {}) as Json).flatMap(([type, m]) => {
          if (!isObject(m) || m.example !== undefined || m.examples !== undefined) return [];
          const schema = deref(doc, m.schema);
          if (schema.example !== undefined) return [];
          return Object.entries((schema.properties ?? {}) as Json)
            .filter(([, prop]) => !isObject(prop) || (prop.example === undefined && deref(doc, prop).example === undefined))
            .map(([name]) => `${key} ${type}: property ${name} has no example`);
        }),
      );
      expect(problems).toEqual([]);
    });

    it('every property of every component schema (response DTOs included) has an example', () => {
      const components = ((doc.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>;
      const problems = Object.entries(components)
        .filter(([, schema]) => schema.example === undefined)
        .flatMap(([name, schema]) =>
          Object.entries((schema.properties ?? {}) as Json)
            .filter(([, prop]) => !isObject(prop) || (prop.example === undefined && deref(doc, prop).example === undefined))
            .map(([prop]) => `${name}.${prop} has no example`),
        );
      expect(problems).toEqual([]);
    });
    it('documents the refresh-token transport: the login field, and refreshToken optional in the refresh body and in TokensDto', () => {
      const components = ((doc.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>;
      const login = components.LoginDto;
      expect((login.properties as Json).refreshTokenTransport).toEqual(expect.objectContaining({ enum: ['body', 'cookie'], example: 'cookie' }));
      expect((login.required ?? []) as string[]).not.toContain('refreshTokenTransport');
      for (const name of ['RefreshDto', 'TokensDto']) {
        expect((components[name].required ?? []) as string[]).not.toContain('refreshToken');
        expect(String(((components[name].properties as Json).refreshToken as Json).description)).toMatch(/cookie/);
      }
    });
  });

  describe('example tokens are obviously fake', () => {
    it('recognises a real-looking JWT, and none appears in the document unless marked EXAMPLE', () => {
      // The detector must flag a genuine token, or the check on the document below proves nothing.
      expect(isDecodableJwt(realLookingJwt())).toBe(true);
      const leaked = [...new Set(allStringTokens(doc))].filter((s) => isDecodableJwt(s) && !s.includes('EXAMPLE'));
      expect(leaked).toEqual([]);
    });

    it('every JWT-shaped example string contains EXAMPLE', () => {
      const jwtShaped = [...new Set(allStringTokens(doc))].filter((s) => JWT_SHAPE.test(s) && s.startsWith('eyJ'));
      expect(jwtShaped.filter((s) => !s.includes('EXAMPLE'))).toEqual([]);
    });

    it('every access and refresh token example contains EXAMPLE', () => {
      const components = ((doc.components as Json | undefined)?.schemas ?? {}) as Record<string, Json>;
      const tokenProps = Object.entries(components).flatMap(([name, schema]) =>
        Object.entries((schema.properties ?? {}) as Record<string, Json>)
          .filter(([prop]) => /(access|refresh)Token$/i.test(prop))
          .map(([prop, s]) => ({ where: `${name}.${prop}`, example: s.example })),
      );
      expect(tokenProps.map((p) => p.where)).toEqual(expect.arrayContaining(['TokensDto.accessToken', 'TokensDto.refreshToken', 'RefreshDto.refreshToken']));
      expect(tokenProps.filter((p) => typeof p.example !== 'string' || !p.example.includes('EXAMPLE'))).toEqual([]);
    });
  });
});
