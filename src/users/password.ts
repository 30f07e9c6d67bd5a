import { Injectable, OnModuleInit } from '@nestjs/common';
import * as bcrypt from 'bcrypt';
import { AuthSettings } from '../core/settings';

/** bcrypt only looks at the first 72 bytes; longer passwords are refused, never truncated. */
export const PASSWORD_MIN_BYTES = 8;
export const PASSWORD_MAX_BYTES = 72;

@Injectable()
export class PasswordHasher implements OnModuleInit {
  private dummyHash!: string;

  constructor(private readonly config: AuthSettings) {}

  async onModuleInit(): Promise<void> {
    // A hash at the configured cost to compare against when an email is unknown, so that answer
    // costs the same time as a wrong password.
    this.dummyHash = await bcrypt.hash(`dummy-${Date.now()}-${Math.random()}`, this.config.bcryptCost);
  }

  hash(password: string): Promise<string> {
    return bcrypt.hash(password, this.config.bcryptCost);
  }

  /** Compares against `hash`, or against the dummy hash when there is none (always false then). */
  async verify(password: string, hash: string | null | undefined): Promise<boolean> {
    const matches = await bcrypt.compare(password, hash ?? this.dummyHash);
    return hash ? matches : false;
  }
}
