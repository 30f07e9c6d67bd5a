/**
 * The one normalisation of a sign-in email, used wherever an email is stored, looked up or counted
 * (registration, sign-in, the per-account rate limit). The database compares the result exactly; it
 * applies no `lower()` of its own, whose answer depends on the server's locale and differed from
 * JavaScript's on letters such as 'İ' (U+0130): the limiter and the lookup then disagreed on which
 * account an attempt was for.
 *
 * NFKC (compatibility composition) makes canonically equivalent spellings (precomposed 'é' and 'e' +
 * U+0301) and compatibility forms (full-width 'ａ', ligatures) one address; then Unicode's default
 * lower-casing, which does not depend on a locale. A second NFKC keeps the result stable when
 * lower-casing produces a sequence NFKC would change, so normalising twice changes nothing.
 */
export function normaliseEmail(email: string): string {
  return email.normalize('NFKC').trim().toLowerCase().normalize('NFKC');
}
