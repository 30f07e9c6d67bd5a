import { Clock } from '../../src/core/clock';

/** Real time plus an offset that tests move forward, instead of sleeping. */
export class FakeClock extends Clock {
  private offsetMs = 0;

  override now(): Date {
    return new Date(Date.now() + this.offsetMs);
  }

  advance(seconds: number): void {
    this.offsetMs += seconds * 1000;
  }
}
