import { Injectable } from '@nestjs/common';
import { Clock } from '../core/clock';
import { normaliseIp } from '../core/ip';
import { normaliseEmail } from '../users/email';
import { AuthSettings } from '../core/settings';

const SWEEP_INTERVAL_MS = 60_000;

/**
 * Failed sign-ins per account and client IP over a sliding window of RATE_LIMIT_WINDOW_SECONDS (in
 * memory, per instance). Past RATE_LIMIT_LOGIN_PER_ACCOUNT failures that pair is refused (429) until
 * the oldest failure leaves the window; a success clears it.
 *
 * Failures, not attempts, and per client IP: counted per account alone, anyone who knows an email
 * could keep its owner out (six wrong tries from one address made the owner's correct sign-in from
 * another answer 429, indefinitely). Guessing from one address is bounded by this limit, and any
 * address's total by RATE_LIMIT_LOGIN_PER_IP. The counters are never sent in headers: they would tell
 * anyone how many attempts were made against any email.
 */
@Injectable()
export class LoginFailureLimiter {
  private readonly failures = new Map<string, number[]>();
  private nextSweep = 0;

  constructor(
    private readonly settings: AuthSettings,
    private readonly clock: Clock,
  ) {}

  private now(): number {
    return this.clock.now().getTime();
  }

  /** Seconds until this pair may try again; 0 when it may now. */
  retryAfterSeconds(email: string, ip: string | null | undefined): number {
    const now = this.now();
    const times = this.live(this.key(email, ip), now);
    if (times.length < this.limit) return 0;
    return Math.max(1, Math.ceil((times[times.length - this.limit]! + this.windowMs - now) / 1000));
  }

  recordFailure(email: string, ip: string | null | undefined): void {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const key = this.key(email, ip);
    const times = this.live(key, now);
    times.push(now);
    // Only the newest `limit` failures decide anything.
    if (times.length > this.limit) times.splice(0, times.length - this.limit);
    this.failures.set(key, times);
  }

  clear(email: string, ip: string | null | undefined): void {
    this.failures.delete(this.key(email, ip));
  }

  private get limit(): number {
    return this.settings.rateLimit.loginPerAccount;
  }

  private get windowMs(): number {
    return this.settings.rateLimit.windowSeconds * 1000;
  }

  private key(email: string, ip: string | null | undefined): string {
    return `${normaliseEmail(email)}\u0000${normaliseIp(ip) ?? ''}`;
  }

  private live(key: string, now: number): number[] {
    const times = this.failures.get(key);
    if (!times) return [];
    const first = times.findIndex((t) => t + this.windowMs > now);
    return first < 0 ? [] : first === 0 ? times : times.slice(first);
  }

  private sweep(now: number): void {
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const [key, times] of this.failures) {
      if (times[times.length - 1]! + this.windowMs <= now) this.failures.delete(key);
    }
  }
}
