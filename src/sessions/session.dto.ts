import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, MaxLength } from 'class-validator';
import { NoControlCharacters } from '../core/validation';
import { DEVICE_TYPES } from './session.entity';
import type { SessionView } from './sessions.repository';

export const DEVICE_NAME_MAX_LENGTH = 100;

export class RenameSessionDto {
  @ApiProperty({ example: 'Work laptop', maxLength: DEVICE_NAME_MAX_LENGTH, description: 'Empty clears the name.' })
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MaxLength(DEVICE_NAME_MAX_LENGTH)
  @NoControlCharacters()
  deviceName!: string;
}

export class RevokeSessionsQueryDto {
  @ApiPropertyOptional({ type: Boolean, default: false, description: 'Also revoke the session making this call.' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'includeCurrent must be true or false' })
  includeCurrent?: boolean;
}

/** A session as clients see it: never the refresh token hash. */
export class SessionDto {
  @ApiProperty({ format: 'uuid', example: '6dff5a5b-2eb5-4f14-9e5c-4bee6b3d3224' })
  id!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Work laptop' })
  deviceName!: string | null;

  @ApiProperty({ enum: DEVICE_TYPES, example: 'web' })
  deviceType!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' })
  userAgent!: string | null;

  @ApiProperty({
    type: String,
    nullable: true,
    example: '203.0.113.7',
    description:
      'Where the sign-in came from: the connection, or with TRUST_PROXY the X-Forwarded-For hop it selects. IPv4-mapped IPv6 is shown as IPv4, an IPv6 zone (%eth0) is dropped; null when that was not an IP address.',
  })
  ipAddress!: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-29T07:27:30.339Z' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-29T08:12:05.120Z', description: 'Last refresh.' })
  lastUsedAt!: string;

  @ApiProperty({ format: 'date-time', example: '2026-12-29T08:12:05.120Z', description: 'When the refresh token stops working unless refreshed.' })
  expiresAt!: string;

  @ApiProperty({ example: true, description: 'True for the session making this call.' })
  current!: boolean;
}

export class RevokedCountDto {
  @ApiProperty({ example: 2, description: 'How many sessions were revoked.' })
  revoked!: number;
}

export function toSessionDto(s: SessionView, currentSessionId: string): SessionDto {
  return {
    id: s.id,
    deviceName: s.deviceName ?? null,
    deviceType: s.deviceType,
    userAgent: s.userAgent ?? null,
    ipAddress: s.ipAddress ?? null,
    createdAt: s.createdAt.toISOString(),
    lastUsedAt: s.lastUsedAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
    current: s.id === currentSessionId,
  };
}
