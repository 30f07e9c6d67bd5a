import { isIP } from 'node:net';

/**
 * An IP address or a CIDR subnet (`203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32`) as PostgreSQL's
 * `inet` reads it, or undefined when it is not one. No IPv6 zone (`%eth0`): Node accepts it, `inet`
 * does not. Host bits under the mask are allowed (`10.1.2.3/8` means 10.0.0.0/8 to `<<=`).
 */
export function parseNetwork(input: unknown): string | undefined {
  if (typeof input !== 'string' || input.length > 64) return undefined;
  const match = /^([0-9A-Fa-f:.]+)(?:\/(\d{1,3}))?$/.exec(input.trim());
  if (!match) return undefined;
  const [, address, prefix] = match;
  const family = isIP(address);
  if (family === 0) return undefined;
  if (prefix !== undefined && Number(prefix) > (family === 4 ? 32 : 128)) return undefined;
  return prefix === undefined ? address : `${address}/${Number(prefix)}`;
}
