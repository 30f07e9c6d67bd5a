import type { IncomingMessage } from 'node:http';
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

const CLIENT_IP = Symbol('nest-rls-auth:client-ip');
type ClientRequest = Pick<IncomingMessage, 'socket'> & { ip?: string; [CLIENT_IP]?: string | null };

/**
 * The request's client address as sessions, audit events, rate limits and log lines record it:
 * Express's `req.ip` (the socket address, or the `X-Forwarded-For` hop that TRUST_PROXY chooses),
 * normalised. Worked out once per request and kept on it: Express computes `req.ip` anew on every
 * read (proxy-addr parses the forwarding header each time), and a request reads it three or four times.
 */
export function clientIpOf(req: ClientRequest): string | null {
  const known = req[CLIENT_IP];
  if (known !== undefined) return known;
  return (req[CLIENT_IP] = normaliseIp(req.ip ?? req.socket?.remoteAddress));
}
