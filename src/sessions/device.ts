import type { Request } from 'express';
import { clientIpOf } from '../core/ip';
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
  const userAgent = userAgentOf(req);
  return {
    userAgent,
    ipAddress: clientIpOf(req),
    deviceName: client.deviceName?.trim() || null,
    deviceType: client.deviceType ?? deviceTypeFromUserAgent(userAgent),
  };
}

/** The request's User-Agent as a session stores it (cut to USER_AGENT_MAX_LENGTH), or null. */
export function userAgentOf(req: Pick<Request, 'headers'>): string | null {
  const raw = req.headers['user-agent'];
  return typeof raw === 'string' && raw.length > 0 ? raw.slice(0, USER_AGENT_MAX_LENGTH) : null;
}

export function deviceTypeFromUserAgent(userAgent: string | null): DeviceType {
  if (!userAgent) return 'unknown';
  if (/Electron\//.test(userAgent)) return 'desktop';
  if (/Mobi|Android|iPhone|iPad|iPod|Windows Phone|CFNetwork|okhttp|Dalvik/i.test(userAgent)) return 'mobile';
  if (/^Mozilla\//.test(userAgent)) return 'web';
  return 'unknown';
}
