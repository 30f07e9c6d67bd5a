import { Controller, Get } from '@nestjs/common';
import { CurrentUser, Public } from 'nest-rls-auth';
import type { AuthPrincipal } from 'nest-rls-auth';

@Controller('profile')
export class ProfileController {
  /** Every route needs a valid access token of a live session (the module's global guard)… */
  @Get()
  whoami(@CurrentUser() me: AuthPrincipal): AuthPrincipal {
    return me; // { userId, sessionId }
  }

  /** …unless it is marked @Public(). */
  @Public()
  @Get('ping')
  ping(): { pong: true } {
    return { pong: true };
  }
}
