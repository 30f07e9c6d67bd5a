import { Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { MikroOrmModule } from '@mikro-orm/nestjs';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { AUTH_ENTITIES, AuthModule } from 'nest-rls-auth';
import { Note } from './notes/note.entity';
import { NotesController } from './notes/notes.controller';
import { NotesService } from './notes/notes.service';
import { ProfileController } from './profile.controller';

@Module({
  imports: [
    ConfigModule.forRoot({ isGlobal: true }), // process.env, and .env when there is one
    // One MikroORM for the module and the app: the request's RLS transaction covers both.
    MikroOrmModule.forRootAsync({
      driver: PostgreSqlDriver,
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        clientUrl: config.getOrThrow<string>('DATABASE_APP_URL'), // the runtime role, subject to RLS
        entities: [...AUTH_ENTITIES, Note],
        allowGlobalContext: false,
        forceUtcTimezone: true,
      }),
    }),
    MikroOrmModule.forFeature([Note]),
    AuthModule.forRootAsync({
      useHostOrm: true, // the MikroORM above, instead of a connection of the module's own
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        accessToken: { secret: config.getOrThrow<string>('JWT_ACCESS_SECRET') },
        refreshToken: { secret: config.getOrThrow<string>('REFRESH_TOKEN_SECRET') },
      }),
      // Also beside useFactory (they decide which providers exist):
      // routePrefix: 'api',               // → /api/auth/login, /api/sessions
      // registerGlobalGuard: false,       // no bearer guard on every route (use @UseGuards(JwtAuthGuard))
      // registerRlsInterceptor: false,    // no RLS transaction around every route
      // registerExceptionFilter: false,   // your own global exception filter instead of the module's
    }),
  ],
  controllers: [ProfileController, NotesController],
  providers: [NotesService],
})
export class AppModule {}
