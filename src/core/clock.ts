import { Injectable } from '@nestjs/common';

/**
 * The service's notion of "now" for session lifetimes (expiry, idle timeout, grace window).
 * Tests replace it with a controllable clock instead of sleeping.
 */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
