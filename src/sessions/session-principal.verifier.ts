import { Injectable } from '@nestjs/common';
import { PrincipalVerifier, RlsPrincipal } from '../core/principal';
import { SessionsService } from './sessions.service';

/** An access token is honoured only while its session is active: revocation takes effect at once. */
@Injectable()
export class SessionPrincipalVerifier extends PrincipalVerifier {
  constructor(private readonly sessions: SessionsService) {
    super();
  }

  verify(principal: RlsPrincipal): Promise<void> {
    return this.sessions.assertActive(principal.sessionId);
  }
}
