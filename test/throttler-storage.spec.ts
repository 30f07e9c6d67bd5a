import { ThrottlerStorageService } from '@nestjs/throttler';
import { SlidingWindowThrottlerStorage } from '../src/auth/throttler-storage';
import { prng } from './support/prng';

// The rate limiter's storage replaces @nestjs/throttler's own for speed; it must answer exactly as
// the stock one does, request for request, blocking and resets included.
describe('SlidingWindowThrottlerStorage', () => {
  let clock = 0;
  const now = (): number => clock;
  afterEach(() => jest.useRealTimers());

  it.each([1, 2, 3, 4, 5])('answers every request exactly like ThrottlerStorageService (random sequence, seed %i)', async (seed) => {
    jest.useFakeTimers({ now: 1_700_000_000_000 });
    clock = Date.now();
    const random = prng(seed);
    const stock = new ThrottlerStorageService();
    const ours = new SlidingWindowThrottlerStorage(now);
    // One TTL, limit and block duration per throttler, as the guard passes them.
    const throttlers = [
      { name: 'ip', ttl: 3_000, limit: 4, blockDuration: 3_000 },
      { name: 'account', ttl: 5_000, limit: 2, blockDuration: 7_000 },
      { name: 'burst', ttl: 2_000, limit: 3, blockDuration: 0 },
    ];
    const keys = ['a', 'b', 'c'];
    let blocked = 0;
    for (let i = 0; i < 3_000; i++) {
      const step = random() < 0.7 ? Math.floor(random() * 400) : Math.floor(random() * 4_000);
      jest.advanceTimersByTime(step);
      clock = Date.now();
      const t = throttlers[Math.floor(random() * throttlers.length)]!;
      const key = `${t.name}-${keys[Math.floor(random() * keys.length)]}`;
      const expected = await stock.increment(key, t.ttl, t.limit, t.blockDuration, t.name);
      const actual = await ours.increment(key, t.ttl, t.limit, t.blockDuration, t.name);
      // What ThrottlerGuard reads: totalHits and timeToExpire (the X-RateLimit headers), isBlocked,
      // and timeToBlockExpire when blocked (Retry-After). Unblocked, the latter is a leftover that
      // depends on when idle records were swept (the stock storage sweeps on a timer, this one from
      // increment), and nothing reads it.
      const seen = (r: typeof expected) => ({ i, ...r, timeToBlockExpire: r.isBlocked ? r.timeToBlockExpire : 'unread' });
      expect(seen(actual)).toEqual(seen(expected));
      if (expected.isBlocked) blocked++;
    }
    expect(blocked).toBeGreaterThan(100); // the sequence exercised blocking, not only counting
    stock.onApplicationShutdown();
  });

  it('keeps memory bounded by the live hits: compacts its log and forgets idle windows', async () => {
    clock = 0;
    const storage = new SlidingWindowThrottlerStorage(now);
    const internal = storage as unknown as { windows: Map<string, { hits: number[] }> };
    // 200,000 requests at 1 per ms against a 1 s window and a limit they never reach.
    for (let i = 0; i < 200_000; i++) {
      clock = i;
      const r = await storage.increment('one-address', 1_000, 1e9, 1_000, 'ip');
      if (r.totalHits !== Math.min(i + 1, 1_000)) throw new Error(`request ${i}: ${r.totalHits} hits counted`);
    }
    const log = internal.windows.get('ip\u0000one-address')!.hits;
    expect(log.length).toBeLessThan(2 * 1_000 + 100);
    // Idle windows are dropped by the next sweep (a minute later).
    clock += 61_000;
    await storage.increment('other-address', 1_000, 10, 1_000, 'ip');
    expect(storage.size).toBe(1);
  });
});
