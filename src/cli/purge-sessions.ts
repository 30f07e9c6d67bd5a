import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module';
import { AuthSettings } from '../core/settings';
import { ConfigError, loadConfig } from '../config/load-config';
import { prepareDatabase } from '../database/bootstrap';
import { SessionsPurgeService } from '../sessions/sessions-purge.service';

/** `npm run sessions:purge`: one purge run (all batches), as the runtime role, then exit. */
async function main(): Promise<void> {
  const config = loadConfig();
  const db = await prepareDatabase(config);
  try {
    const ctx = await NestFactory.createApplicationContext(AppModule.forRoot({ config, runtimeUrl: db.runtimeUrl }), {
      logger: ['error', 'warn'],
    });
    try {
      const removed = await ctx.get(SessionsPurgeService).purge();
      const { retentionSeconds } = ctx.get(AuthSettings).sessions;
      console.log(`Purged ${removed} session(s) that ended more than ${retentionSeconds}s ago`);
    } finally {
      await ctx.close();
    }
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `Purge failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
