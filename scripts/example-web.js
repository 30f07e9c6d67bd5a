// `npm run example:web`: the service (built into dist/) with the example web client at /example/.
// The client keeps the refresh token in the HttpOnly cookie, so unless the environment or .env says
// otherwise, refresh tokens may travel in the cookie (REFRESH_TOKEN_TRANSPORT=both: the page asks
// for the cookie, curl and Swagger UI keep getting them in the body).
const { existsSync } = require('node:fs');

if (existsSync('.env')) process.loadEnvFile('.env');
process.env.REFRESH_TOKEN_TRANSPORT ||= 'both';
process.env.EXAMPLE_WEB_ENABLED ||= 'true';
require('../dist/main.js');
