import { applyDecorators } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiForbiddenResponse,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { ErrorDto } from './error.dto';

/** The OpenAPI security schemes: the bearer access token, and the refresh-token cookie. */
export const BEARER_SCHEME = 'bearer';
export const REFRESH_COOKIE_SCHEME = 'refreshCookie';

/**
 * A 400 for a route that takes input (a body, a path id, a query), with `message` as the route
 * answers it for one bad input — test/openapi.spec.ts sends that input and compares. Routes without
 * input document no 400.
 */
export const ApiInvalidInput = (message: string | string[], description = 'Invalid input: validation failed or malformed JSON.'): MethodDecorator =>
  ApiBadRequestResponse({ type: ErrorDto, description, example: { statusCode: 400, message, error: 'Bad Request' } });

/** The response every route that reaches the database can give: database unavailable. */
export const ApiStandardErrors = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ApiServiceUnavailableResponse({
      type: ErrorDto,
      description: 'The database is unreachable; retry later (see Retry-After).',
      example: { statusCode: 503, message: 'Database unavailable, try again shortly', error: 'Service Unavailable' },
    }),
  );

/** A route behind the global guard: bearer access token required. */
export const ApiAuthenticated = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ApiBearerAuth(BEARER_SCHEME),
    ApiUnauthorizedResponse({
      type: ErrorDto,
      description: 'Missing, malformed or expired access token, or its session was revoked.',
      example: { statusCode: 401, message: 'Unauthorized', error: 'Unauthorized' },
    }),
  );

/** A rate-limited route. */
export const ApiRateLimited = (): MethodDecorator & ClassDecorator =>
  applyDecorators(
    ApiTooManyRequestsResponse({
      type: ErrorDto,
      description: 'Too many attempts; the Retry-After header says how many seconds to wait.',
      headers: { 'Retry-After': { description: 'Seconds until the limit resets', schema: { type: 'integer' } } },
      example: { statusCode: 429, message: 'Too many requests, try again later', error: 'Too Many Requests' },
    }),
  );

/**
 * A route the refresh-token cookie can authenticate, as an alternative to what else it documents
 * (`orAnonymous`: a request without credentials, e.g. with the token in its body, is also valid);
 * with the cross-site refusal.
 */
export const ApiRefreshCookie = (options: { orAnonymous?: boolean } = {}): MethodDecorator =>
  applyDecorators(
    ...(options.orAnonymous ? [ApiSecurity({})] : []),
    ApiSecurity(REFRESH_COOKIE_SCHEME),
    ApiForbiddenResponse({
      type: ErrorDto,
      description: 'The request carries the refresh-token cookie but comes from another site or a not-allowed Origin (CSRF defence); nothing was changed.',
      example: { statusCode: 403, message: 'Cross-site request refused', error: 'Forbidden' },
    }),
  );
