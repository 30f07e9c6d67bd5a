import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { BatchedLines } from '../src/logging/batched-lines';
import { requestLineWriter } from '../src/logging/logging.module';

/**
 * The request line is written by hand (`requestLineWriter`) and all lines leave standard output in
 * batches (`BatchedLines`). Operators' log pipelines read these lines, so the hand-written one must be
 * the line pino writes for the same fields, and batching must lose nothing that was logged.
 */
const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20261201;

class Capture {
  readonly chunks: string[] = [];
  write(chunk: string): void {
    this.chunks.push(chunk);
  }
  get text(): string {
    return this.chunks.join('');
  }
}

/** Any text without lone surrogates (pino on Node 24 writes those raw, JSON.stringify escapes them). */
const text = fc.string({ unit: fc.oneof(fc.constantFrom('"', '\\', '\n', '\u0000', '\u001f', '\u007f', '\u2028'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 120 });
const lines = fc.record({
  level: fc.constantFrom(30 as const, 50 as const),
  reqId: text,
  method: fc.option(fc.constantFrom('GET', 'POST', 'DELETE', 'PATCH'), { nil: undefined }),
  ip: fc.option(fc.constantFrom('127.0.0.1', '::1', '2001:db8::7'), { nil: null }),
  statusCode: fc.integer({ min: 100, max: 599 }),
  route: text,
  durationMs: fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 1_000_000 }).map((n) => n / 10)),
  aborted: fc.boolean(),
  msg: text,
});
const sameTime = (line: string): string => line.replace(/^\{"level":(\d+),"time":\d+,/, '{"level":$1,"time":0,');

describe('requestLineWriter (the request line, written by hand)', () => {
  it("writes exactly pino's line for the same fields, level and message", () => {
    fc.assert(
      fc.property(lines, (l) => {
        const ours = new Capture();
        const theirs = new Capture();
        const line = {
          reqId: l.reqId,
          req: { id: l.reqId, method: l.method },
          ip: l.ip,
          res: { statusCode: l.statusCode },
          route: l.route,
          durationMs: l.durationMs,
          ...(l.aborted ? { aborted: true as const } : {}),
        };
        requestLineWriter('trace', ours)(l.level, line, l.msg);
        const reference = pino({ level: 'trace' }, theirs);
        if (l.level === 30) reference.info(line, l.msg);
        else reference.error(line, l.msg);
        expect(ours.chunks).toHaveLength(1);
        expect(sameTime(ours.text)).toBe(sameTime(theirs.text));
      }),
      { numRuns: 400, seed: SEED },
    );
  });

  it('writes what LOG_LEVEL lets through: info and error at trace and info, error alone at warn, nothing when silent', () => {
    const line = { reqId: 'r', req: { id: 'r', method: 'GET' }, ip: null, res: { statusCode: 200 }, route: '/x', durationMs: 1 };
    const levelsWritten = (level: string): number[] => {
      const out = new Capture();
      const write = requestLineWriter(level, out);
      write(30, line, 'info line');
      write(50, line, 'error line');
      return out.chunks.map((c) => (JSON.parse(c) as { level: number }).level);
    };
    expect(levelsWritten('trace')).toEqual([30, 50]);
    expect(levelsWritten('info')).toEqual([30, 50]);
    expect(levelsWritten('warn')).toEqual([50]);
    expect(levelsWritten('error')).toEqual([50]);
    expect(levelsWritten('fatal')).toEqual([]);
    expect(levelsWritten('silent')).toEqual([]);
  });
});

describe('BatchedLines (standard output in batches)', () => {
  const line = (i: number): string => `${JSON.stringify({ i, pad: 'x'.repeat(90) })}\n`;

  it('holds lines until 4 KiB are pending, then writes them in one chunk, in order', () => {
    const sink = new Capture();
    const out = new BatchedLines(sink);
    try {
      let i = 0;
      while (sink.chunks.length === 0) {
        out.write(line(i++));
        if (sink.chunks.length === 0) expect(i * line(0).length).toBeLessThan(4096);
      }
      expect(sink.chunks).toHaveLength(1);
      expect(sink.chunks[0]).toBe(Array.from({ length: i }, (_, k) => line(k)).join(''));
      expect(sink.chunks[0].length).toBeGreaterThanOrEqual(4096);
    } finally {
      out.close();
    }
  });

  it('writes what is pending on flushSync, within 250 ms on its own, and straight through once closed', async () => {
    const sink = new Capture();
    const out = new BatchedLines(sink);
    out.write(line(1));
    out.write(line(2));
    expect(sink.chunks).toEqual([]);
    out.flushSync();
    expect(sink.chunks).toEqual([line(1) + line(2)]);
    out.flushSync();
    expect(sink.chunks).toHaveLength(1);
    out.write(line(3));
    const deadline = Date.now() + 2000;
    while (sink.chunks.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sink.chunks).toEqual([line(1) + line(2), line(3)]);
    out.write(line(4));
    out.close();
    expect(sink.chunks.at(-1)).toBe(line(4));
    out.write(line(5));
    expect(sink.chunks.at(-1)).toBe(line(5));
  });

  /** A process that logs three lines through BatchedLines to its standard output, then ends as `how` says. */
  function runChild(how: string): { stdout: string; status: number | null } {
    const modulePath = join(__dirname, '..', 'src', 'logging', 'batched-lines.ts');
    const script = `
      import { writeSync } from 'node:fs';
      import { BatchedLines } from ${JSON.stringify(modulePath)};
      const out = new BatchedLines({ write: (chunk) => writeSync(1, chunk) });
      for (const i of [1, 2, 3]) out.write(JSON.stringify({ line: i }) + '\\n');
      ${how}
    `;
    const r = spawnSync(process.execPath, ['--no-warnings', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    return { stdout: r.stdout, status: r.status };
  }
  const three = '{"line":1}\n{"line":2}\n{"line":3}\n';

  it('loses nothing when the process ends: at the end of its work, on process.exit, and on an uncaught exception', () => {
    expect(runChild('')).toEqual({ stdout: three, status: 0 });
    expect(runChild('process.exit(3);')).toEqual({ stdout: three, status: 3 });
    expect(runChild("setTimeout(() => { throw new Error('boom'); }, 10);")).toEqual({ stdout: three, status: 1 });
  });
});
