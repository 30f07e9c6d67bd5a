import type { TestingModuleBuilder } from '@nestjs/testing';
import { AuthSettings } from '../../src/core/settings';
import { PasswordHasher } from '../../src/users/password';

/**
 * The real bcrypt hasher, with a handle to hold one call still (`holdNext`) and a record of how many
 * runtime-pool connections were in use as each call started (`inUse` is set by the test).
 */
export class HeldPasswordHasher extends PasswordHasher {
  /** Runtime-pool connections in use at the start of each bcrypt call. */
  readonly connectionsInUse: number[] = [];
  inUse: () => number = () => -1;
  private held?: { entered: () => void; release: Promise<void> };

  /** The next bcrypt call waits until `release()`; `entered` resolves when it has started waiting. */
  holdNext(): { entered: Promise<void>; release: () => void } {
    let entered!: () => void;
    let release!: () => void;
    const enteredP = new Promise<void>((r) => (entered = r));
    this.held = { entered, release: new Promise<void>((r) => (release = r)) };
    return { entered: enteredP, release };
  }

  override async hash(password: string): Promise<string> {
    await this.observe();
    return super.hash(password);
  }

  override async verify(password: string, hash: string | null | undefined): Promise<boolean> {
    await this.observe();
    return super.verify(password, hash);
  }

  private async observe(): Promise<void> {
    this.connectionsInUse.push(this.inUse());
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    held.entered();
    await held.release;
  }
}

/** `createTestApp({ configure })`: the app's PasswordHasher becomes a HeldPasswordHasher. */
export const withHeldPasswordHasher = (builder: TestingModuleBuilder): TestingModuleBuilder =>
  builder.overrideProvider(PasswordHasher).useFactory({ factory: (settings: AuthSettings) => new HeldPasswordHasher(settings), inject: [AuthSettings] });
