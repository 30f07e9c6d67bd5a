import { ArgumentMetadata, BadRequestException, ValidationPipe } from '@nestjs/common';
import { Matches } from 'class-validator';

/**
 * What no name or email may contain: C0 controls and DEL, C1 controls (U+0080–U+009F), and the
 * Unicode bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), with which a
 * device or display name shows as other text than it is (U+202E reverses what follows it). The one
 * definition; `CONTROL_CHARACTER` finds one, `NoControlCharacters` refuses a field holding one.
 */
const CONTROL_CHARACTERS = '\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
export const CONTROL_CHARACTER = new RegExp(`[${CONTROL_CHARACTERS}]`);
const NO_CONTROL_CHARACTERS = new RegExp(`^[^${CONTROL_CHARACTERS}]*$`);

/** Validation: the string holds none of `CONTROL_CHARACTER` ("<field> must not contain control characters"). */
export const NoControlCharacters = (): PropertyDecorator =>
  Matches(NO_CONTROL_CHARACTERS, { message: '$property must not contain control characters' });

/** The deepest nesting of objects and arrays an input may have (the top level counts as 1). */
export const MAX_INPUT_DEPTH = 32;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why a parsed body or query is refused before validation, which cannot cope with it (both used to
 * answer 500): a deeply nested value (class-transformer and ValidationPipe recurse; 16kb hold 8000
 * levels of `[`), and a lone surrogate (`"\ud800"` is valid JSON; the email validator throws on it,
 * and bcrypt and PostgreSQL see U+FFFD instead, so different passwords hashed alike). Iterative, so
 * a hostile value cannot overflow the stack here either.
 */
export function inputProblem(value: unknown): string | undefined {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length) {
    const [node, depth] = pending.pop()!;
    if (typeof node === 'string') {
      if (LONE_SURROGATE.test(node)) return 'Input is not well-formed Unicode';
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    if (depth > MAX_INPUT_DEPTH) return 'Input is nested too deeply';
    for (const [key, child] of Object.entries(node)) {
      if (LONE_SURROGATE.test(key)) return 'Input is not well-formed Unicode';
      pending.push([child, depth + 1]);
    }
  }
  return undefined;
}

/** Strict body/query validation for the module's routes, whatever the host app configures globally. */
export class AuthValidationPipe extends ValidationPipe {
  constructor() {
    super({ whitelist: true, forbidNonWhitelisted: true, transform: true, stopAtFirstError: false });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' || metadata.type === 'query') {
      const problem = inputProblem(value);
      if (problem) throw new BadRequestException(problem);
    }
    return super.transform(value, metadata);
  }
}

export const authValidationPipe = (): ValidationPipe => new AuthValidationPipe();
