import { join } from 'node:path';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { NextFunction, Request, Response } from 'express';

/** Where the example web client is served (EXAMPLE_WEB_ENABLED). */
export const WEB_EXAMPLE_PATH = '/example/';
/** examples/web in the repository: next to src/ and dist/ alike. */
export const WEB_EXAMPLE_DIR = join(__dirname, '..', 'examples', 'web');

/**
 * Serves the example browser client (plain HTML, CSS and one JavaScript module) at /example/, from
 * the service's own origin, so that it can use the refresh-token cookie without CORS. Only that
 * prefix reaches the static handler: API routes are never looked up on disk.
 */
export function serveWebExample(app: NestExpressApplication): void {
  // /example → /example/, so that the page's relative URLs (app.js, style.css) resolve under it.
  app.use(WEB_EXAMPLE_PATH, (req: Request, res: Response, next: NextFunction) =>
    req.originalUrl === WEB_EXAMPLE_PATH.slice(0, -1) ? res.redirect(301, WEB_EXAMPLE_PATH) : next(),
  );
  app.useStaticAssets(WEB_EXAMPLE_DIR, { prefix: WEB_EXAMPLE_PATH, index: 'index.html', redirect: false });
}
