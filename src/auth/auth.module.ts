import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JwtModule } from '@nestjs/jwt';
import { PassportModule } from '@nestjs/passport';
import { ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { SessionsModule } from '../sessions/sessions.module';
import { UsersModule } from '../users/users.module';
import { AccessTokenService } from './access-token.service';
import { AuthController } from './auth.controller';
import { AuthService } from './auth.service';
import { JwtAuthGuard } from './jwt-auth.guard';
import { JwtStrategy } from './jwt.strategy';
import { AuthRateLimitGuard, rateLimitOptions } from './rate-limit';

@Module({
  imports: [
    PassportModule,
    JwtModule.register({}),
    ThrottlerModule.forRootAsync({ inject: [AppConfig], useFactory: rateLimitOptions }),
    UsersModule,
    SessionsModule,
  ],
  controllers: [AuthController],
  providers: [AuthService, AccessTokenService, JwtStrategy, AuthRateLimitGuard, { provide: APP_GUARD, useClass: JwtAuthGuard }],
  exports: [AuthService, AccessTokenService],
})
export class AuthModule {}
