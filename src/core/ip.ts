import { isIP } from 'node:net';

/**
 * The address as the `inet` column stores it, or null when it is not one. An IPv6 zone index
 * (`fe80::1%eth0`: which of the host's links a link-local address was seen on) is dropped: Node
 * accepts it, PostgreSQL's `inet` rejects it, and it means nothing off that host. Kept, it failed
 * the sign-in with a 400, from a socket address or from a trusted X-Forwarded-For hop.
 */
export function normaliseIp(ip: string | undefined | null): string | null {
  if (!ip) return null;
  const unzoned = isIP(ip) === 6 ? ip.replace(/%[\s\S]*$/, '') : ip;
  const candidate = unzoned.startsWith('::ffff:') && isIP(unzoned.slice(7)) === 4 ? unzoned.slice(7) : unzoned;
  return isIP(candidate) ? candidate : null;
}
