/**
 * A minimal host application for `scripts/check-package.sh`: NestJS 12 on Express, the packed
 * nest-rls-auth imported from its public entry point, compiled to CommonJS like a typical Nest app.
 * The module's global guard is off, so the host route below is guarded only by its own
 * `@UseGuards(JwtAuthGuard)` (the module's own routes guard themselves).
 *
 * Environment: NRA_HOST_DATABASE_URL (the runtime role's URL), NRA_HOST_ACCESS_SECRET,
 * NRA_HOST_REFRESH_SECRET. Listens on 127.0.0.1 at a random port in 10000–30000, below the
 * ephemeral range (see test/support/net.ts), trying another on EADDRINUSE, and prints
 * `NRA_HOST_LISTENING <port>` once it serves.
 */
import 'reflect-metadata';
import { randomInt } from 'node:crypto';
import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthModule, CurrentUser, JwtAuthGuard, type AuthPrincipal } from 'nest-rls-auth';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

@Controller('host')
class HostController {
  @Get('whoami')
  @UseGuards(JwtAuthGuard)
  whoami(@CurrentUser() user: AuthPrincipal): AuthPrincipal {
    return user;
  }
}

@Module({
  imports: [
    AuthModule.forRootAsync({
      useFactory: () => ({
        accessToken: { secret: required('NRA_HOST_ACCESS_SECRET') },
        refreshToken: { secret: required('NRA_HOST_REFRESH_SECRET') },
        database: { url: required('NRA_HOST_DATABASE_URL') },
        registerGlobalGuard: false,
      }),
    }),
  ],
  controllers: [HostController],
})
class HostModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create(HostModule, { logger: ['error', 'warn', 'log'] });
  app.enableShutdownHooks();
  for (let attempt = 1; ; attempt++) {
    const port = 10_000 + randomInt(20_001);
    try {
      await app.listen(port, '127.0.0.1');
      console.log(`NRA_HOST_LISTENING ${port}`);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
