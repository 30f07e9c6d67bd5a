import { LoggerService } from '@nestjs/common';

/** Keeps every log line the app writes, so tests can search them for secrets. */
export class CapturedLogger implements LoggerService {
  readonly lines: string[] = [];

  log(message: unknown, ...rest: unknown[]): void {
    this.push('log', message, rest);
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.push('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]): void {
    this.push('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]): void {
    this.push('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]): void {
    this.push('verbose', message, rest);
  }

  private push(level: string, message: unknown, rest: unknown[]): void {
    const text = [message, ...rest].map((part) => (typeof part === 'string' ? part : JSON.stringify(part) ?? String(part))).join(' ');
    this.lines.push(`${level} ${text}`);
    if (process.env.TEST_LOGS === '1') console.log(`${level} ${text}`);
  }
}
