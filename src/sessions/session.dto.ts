import { Transform } from 'class-transformer';
import { IsBoolean, IsOptional, IsString, Matches, MaxLength } from 'class-validator';
import { Session } from './session.entity';

export const DEVICE_NAME_MAX_LENGTH = 100;
const NO_CONTROL_CHARS = /^[^\u0000-\u001f\u007f]*$/;

export class RenameSessionDto {
  @Transform(({ value }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MaxLength(DEVICE_NAME_MAX_LENGTH)
  @Matches(NO_CONTROL_CHARS, { message: 'deviceName must not contain control characters' })
  deviceName!: string;
}

export class RevokeSessionsQueryDto {
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean({ message: 'includeCurrent must be true or false' })
  includeCurrent?: boolean;
}

/** A session as clients see it: never the refresh token hash. */
export interface SessionDto {
  id: string;
  deviceName: string | null;
  deviceType: string;
  userAgent: string | null;
  ipAddress: string | null;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  current: boolean;
}

export function toSessionDto(s: Session, currentSessionId: string): SessionDto {
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
