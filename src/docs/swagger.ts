import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { BEARER_SCHEME, REFRESH_COOKIE_SCHEME } from '../core/api-responses';

export const DOCS_PATH = 'docs';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('nest-rls-auth')
    .setDescription(
      'Sign-in, rotating refresh tokens and device sessions. Every request runs in a PostgreSQL ' +
        'transaction scoped to the caller by Row Level Security.\n\n' +
        'Try it: **POST /auth/register**, then **POST /auth/login**, copy `accessToken` into ' +
        '**Authorize**, then call **GET /sessions**.',
    )
    .setVersion('0.1.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The `accessToken` from /auth/login or /auth/refresh' }, BEARER_SCHEME)
    .addCookieAuth(
      'refresh_token',
      {
        type: 'apiKey',
        in: 'cookie',
        name: 'refresh_token',
        description:
          'The refresh token as an HttpOnly, SameSite=Strict cookie (REFRESH_TOKEN_TRANSPORT=cookie or both), set by ' +
          '/auth/login and /auth/refresh. Named `__Host-refresh_token` (and `Secure`) when the service is reached over HTTPS. ' +
          'A request carrying it from another site, or from an Origin that is not the service\'s own or in CORS_ORIGINS, is refused (403).',
      },
      REFRESH_COOKIE_SCHEME,
    )
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Swagger UI at /docs (with the bearer "Authorize" button) and the OpenAPI 3 document at /docs-json. */
export function setupSwagger(app: INestApplication): void {
  SwaggerModule.setup(DOCS_PATH, app, () => buildOpenApiDocument(app), {
    jsonDocumentUrl: `${DOCS_PATH}-json`,
    customSiteTitle: 'nest-rls-auth API',
    swaggerOptions: { persistAuthorization: false, displayRequestDuration: true, tryItOutEnabled: true },
  });
}
