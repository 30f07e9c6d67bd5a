import { inspect } from 'node:util';

/** What a security event carries: a message, the event's name, ids and reasons — never a secret. */
export interface SecurityEventFields {
  msg: string;
  event: string;
  [field: string]: unknown;
}

/**
 * A security event, logged as one record whatever logger the app uses. Structured loggers take its
 * own fields as they are (nestjs-pino, for one, merges them into the JSON line). Nest's default
 * `ConsoleLogger`, which prints a plain object as a multi-line `Object(4) {…}` dump, prints this one
 * on one line: the message, then the other fields as JSON (which escapes any control character).
 */
export class SecurityEvent {
  declare readonly msg: string;
  declare readonly event: string;

  constructor(fields: SecurityEventFields) {
    Object.assign(this, fields);
  }

  [inspect.custom](): string {
    const { msg, ...fields } = this as unknown as SecurityEventFields;
    return `${msg} ${JSON.stringify(fields)}`;
  }
}
