import { Clock } from '../../src/core/clock';

/** A clock that stands still until a test moves it, so window boundaries can be hit to the millisecond. */
export class ManualClock extends Clock {
  private current = new Date();

  override now(): Date {
    return new Date(this.current.getTime());
  }

  advance(seconds: number): void {
    this.current = new Date(this.current.getTime() + Math.round(seconds * 1000));
  }
}
