import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';

/** Domain error codes; one filter maps them to HTTP (see `AppExceptionFilter`). */
export enum AppErrorCode {
  INVALID_CREDENTIALS = 'INVALID_CREDENTIALS',
  INVALID_REFRESH_TOKEN = 'INVALID_REFRESH_TOKEN',
  REFRESH_TOKEN_REUSED = 'REFRESH_TOKEN_REUSED',
  SESSION_INACTIVE = 'SESSION_INACTIVE',
  SESSION_NOT_FOUND = 'SESSION_NOT_FOUND',
  EMAIL_TAKEN = 'EMAIL_TAKEN',
  WRONG_PASSWORD = 'WRONG_PASSWORD',
  /** The caller is not an active admin (decided by the database, `auth_is_admin()`). */
  ADMIN_REQUIRED = 'ADMIN_REQUIRED',
  USER_NOT_FOUND = 'USER_NOT_FOUND',
  /** SESSION_LIMIT_POLICY=deny and the account already has SESSION_MAX_PER_USER active sessions. */
  SESSION_LIMIT_REACHED = 'SESSION_LIMIT_REACHED',
  INVALID_CURSOR = 'INVALID_CURSOR',
  INVALID_NETWORK = 'INVALID_NETWORK',
}

const STATUS: Record<AppErrorCode, [HttpStatus, string]> = {
  [AppErrorCode.INVALID_CREDENTIALS]: [HttpStatus.UNAUTHORIZED, 'Invalid email or password'],
  [AppErrorCode.INVALID_REFRESH_TOKEN]: [HttpStatus.UNAUTHORIZED, 'Invalid or expired refresh token'],
  [AppErrorCode.REFRESH_TOKEN_REUSED]: [HttpStatus.UNAUTHORIZED, 'Invalid or expired refresh token'],
  [AppErrorCode.SESSION_INACTIVE]: [HttpStatus.UNAUTHORIZED, 'Unauthorized'],
  [AppErrorCode.SESSION_NOT_FOUND]: [HttpStatus.NOT_FOUND, 'Session not found'],
  [AppErrorCode.EMAIL_TAKEN]: [HttpStatus.CONFLICT, 'Email is already registered'],
  [AppErrorCode.WRONG_PASSWORD]: [HttpStatus.UNAUTHORIZED, 'Current password is incorrect'],
  [AppErrorCode.ADMIN_REQUIRED]: [HttpStatus.FORBIDDEN, 'Admin role required'],
  [AppErrorCode.USER_NOT_FOUND]: [HttpStatus.NOT_FOUND, 'User not found'],
  [AppErrorCode.SESSION_LIMIT_REACHED]: [HttpStatus.CONFLICT, 'Session limit reached: sign out another session first'],
  [AppErrorCode.INVALID_CURSOR]: [HttpStatus.BAD_REQUEST, 'Invalid cursor'],
  [AppErrorCode.INVALID_NETWORK]: [HttpStatus.BAD_REQUEST, 'ip must be an IP address or a CIDR subnet'],
};

/**
 * A domain error with a code. It is an HttpException, so a host app that imports the modules
 * answers it correctly even without our exception filter.
 */
export class AppException extends HttpException {
  /**
   * @param commit keep the transaction's writes although the request fails (e.g. revoking a
   * session on refresh-token reuse must persist while the caller still gets 401).
   */
  readonly commit: boolean;

  constructor(
    readonly code: AppErrorCode,
    options: { commit?: boolean } = {},
  ) {
    const [status, message] = STATUS[code];
    super({ statusCode: status, message, error: STATUS_CODES[status] }, status);
    this.name = 'AppException';
    this.commit = options.commit === true;
  }
}
