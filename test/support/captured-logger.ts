/**
 * A pino destination that keeps every JSON log line the app writes, so tests can search them (for
 * secrets, request ids, security events). TEST_LOGS=1 also prints them.
 */
export class CapturedLogger {
  readonly lines: string[] = [];

  write(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (!line) continue;
      this.lines.push(line);
      if (process.env.TEST_LOGS === '1') process.stdout.write(`${line}\n`);
    }
  }

  /** The lines parsed as JSON objects. */
  entries(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}
