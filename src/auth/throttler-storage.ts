import type { ThrottlerStorage } from '@nestjs/throttler';

type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

interface Window {
  /** Expiry times of the hits still counted, oldest first, from index `head` on. */
  hits: number[];
  head: number;
  /** When the window's counter resets (reported as `timeToExpire`). */
  expiresAt: number;
  isBlocked: boolean;
  blockExpiresAt: number;
}

const SWEEP_INTERVAL_MS = 60_000;

/**
 * In-memory rate-limit counters with the semantics of `@nestjs/throttler`'s own storage (a sliding
 * log of hits, blocking for `blockDuration` once over the limit) at amortised O(1) per request.
 *
 * The stock storage copies every key's whole list of live hits on every request (`filter`), so a
 * request costs O(hits in the window): with a limit raised for clients behind one NAT address it
 * became the most expensive step of a refresh (the benchmark, which sends everything from one
 * address, showed it). Here hits are kept oldest first (one TTL per throttler, so expiry order is
 * arrival order) and expired ones are skipped by moving a head index; the array is compacted now
 * and then. Idle windows are dropped by a sweep that runs from `increment` itself (no timer).
 */
export class SlidingWindowThrottlerStorage implements ThrottlerStorage {
  private readonly windows = new Map<string, Window>();
  private nextSweep = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** Windows currently held (for tests). */
  get size(): number {
    return this.windows.size;
  }

  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    const id = `${throttlerName}\u0000${key}`;
    let w = this.windows.get(id);
    if (!w) {
      w = { hits: [], head: 0, expiresAt: now + ttl, isBlocked: false, blockExpiresAt: 0 };
      this.windows.set(id, w);
    }
    prune(w, now);
    let timeToExpire = seconds(w.expiresAt - now);
    if (timeToExpire <= 0) {
      w.expiresAt = now + ttl;
      timeToExpire = seconds(ttl);
    }
    if (blockDuration <= 0) {
      // Never blocks: counts hits up to the limit; reports when the oldest counted hit expires.
      const isBlocked = count(w) >= limit;
      if (!isBlocked) w.hits.push(now + ttl);
      return {
        totalHits: count(w) + (isBlocked ? 1 : 0),
        timeToExpire,
        isBlocked,
        timeToBlockExpire: isBlocked ? (count(w) ? seconds(w.hits[w.head]! - now) : timeToExpire) : 0,
      };
    }
    if (!w.isBlocked) w.hits.push(now + ttl);
    if (count(w) > limit && !w.isBlocked) {
      w.isBlocked = true;
      w.blockExpiresAt = now + blockDuration;
    }
    const timeToBlockExpire = seconds(w.blockExpiresAt - now);
    if (timeToBlockExpire <= 0 && w.isBlocked) {
      // The block is over: start counting afresh with this request.
      w.isBlocked = false;
      w.hits = [now + ttl];
      w.head = 0;
    }
    return { totalHits: count(w), timeToExpire, isBlocked: w.isBlocked, timeToBlockExpire };
  }

  /** Drops windows with nothing left to remember: no live hit, no running block, counter expired. */
  private sweep(now: number): void {
    this.nextSweep = now + SWEEP_INTERVAL_MS;
    for (const [id, w] of this.windows) {
      prune(w, now);
      if (count(w) === 0 && w.expiresAt <= now && !(w.isBlocked && w.blockExpiresAt > now)) this.windows.delete(id);
    }
  }
}

const seconds = (ms: number): number => Math.ceil(ms / 1000);
const count = (w: Window): number => w.hits.length - w.head;

function prune(w: Window, now: number): void {
  const { hits } = w;
  let head = w.head;
  while (head < hits.length && hits[head]! <= now) head++;
  if (head > 64 && head * 2 > hits.length) {
    w.hits = hits.slice(head);
    head = 0;
  }
  w.head = head;
}
