import { isIP } from 'node:net';
import type { Request } from 'express';
import { DeviceType } from './session.entity';

export const USER_AGENT_MAX_LENGTH = 512;

export interface DeviceInfo {
  userAgent: string | null;
  ipAddress: string | null;
  deviceName: string | null;
  deviceType: DeviceType;
}

/**
 * Device metadata for a new session. The IP is Express's `req.ip`: the socket address, or the
 * `X-Forwarded-For` hop chosen by the `trust proxy` setting (TRUST_PROXY) — never the raw header.
 */
export function deviceFromRequest(req: Request, client: { deviceName?: string | null; deviceType?: DeviceType | null }): DeviceInfo {
  const rawAgent = req.headers['user-agent'];
  const userAgent = typeof rawAgent === 'string' && rawAgent.length > 0 ? rawAgent.slice(0, USER_AGENT_MAX_LENGTH) : null;
  return {
    userAgent,
    ipAddress: normaliseIp(req.ip ?? req.socket?.remoteAddress),
    deviceName: client.deviceName?.trim() || null,
    deviceType: client.deviceType ?? deviceTypeFromUserAgent(userAgent),
  };
}

export function normaliseIp(ip: string | undefined | null): string | null {
  if (!ip) return null;
  const candidate = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  return isIP(candidate) ? candidate : null;
}

export function deviceTypeFromUserAgent(userAgent: string | null): DeviceType {
  if (!userAgent) return 'unknown';
  if (/Electron\//.test(userAgent)) return 'desktop';
  if (/Mobi|Android|iPhone|iPad|iPod|Windows Phone|CFNetwork|okhttp|Dalvik/i.test(userAgent)) return 'mobile';
  if (/^Mozilla\//.test(userAgent)) return 'web';
  return 'unknown';
}
