import { ApiProperty } from '@nestjs/swagger';
import { IsString, registerDecorator, ValidationOptions } from 'class-validator';
import { PageQueryDto } from '../audit/auth-event.dto';
import { DEVICE_TYPES } from '../sessions/session.entity';
import { USER_ROLES } from '../users/user.entity';
import type { AdminSession, AdminUser } from './admin.repository';
import { parseNetwork } from './network';

/** Validation: an IP address or a CIDR subnet (`parseNetwork`). */
function IsIpOrCidr(options?: ValidationOptions): PropertyDecorator {
  return (object: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isIpOrCidr',
      target: object.constructor,
      propertyName: propertyName as string,
      options: { message: '$property must be an IP address or a CIDR subnet (e.g. 203.0.113.7 or 10.0.0.0/8)', ...options },
      validator: { validate: (value: unknown) => parseNetwork(value) !== undefined },
    });
}

const IP_PROPERTY = {
  example: '203.0.113.0/24',
  description: 'An IP address (`203.0.113.7`) or a CIDR subnet (`10.0.0.0/8`, `2001:db8::/32`).',
} as const;

export class IpQueryDto {
  @ApiProperty(IP_PROPERTY)
  @IsString()
  @IsIpOrCidr()
  ip!: string;
}

export class IpPageQueryDto extends PageQueryDto {
  @ApiProperty(IP_PROPERTY)
  @IsString()
  @IsIpOrCidr()
  ip!: string;
}

/** A session as an admin sees it: never token material. */
export class AdminSessionDto {
  @ApiProperty({ format: 'uuid', example: '6dff5a5b-2eb5-4f14-9e5c-4bee6b3d3224' })
  id!: string;

  @ApiProperty({ format: 'uuid', example: '506b8960-b76f-48bb-be3c-66eb59a1b656', description: 'Whose session it is.' })
  userId!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Work laptop' })
  deviceName!: string | null;

  @ApiProperty({ enum: DEVICE_TYPES, example: 'web' })
  deviceType!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' })
  userAgent!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '203.0.113.7', description: 'Where the sign-in came from.' })
  ipAddress!: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-29T07:27:30.339Z' })
  createdAt!: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-29T08:12:05.120Z', description: 'Last refresh.' })
  lastUsedAt!: string;

  @ApiProperty({ format: 'date-time', example: '2026-12-29T08:12:05.120Z' })
  expiresAt!: string;
}

export class AdminSessionPageDto {
  @ApiProperty({
    type: AdminSessionDto,
    isArray: true,
    description: 'Active sessions.',
    example: [
      {
        id: '6dff5a5b-2eb5-4f14-9e5c-4bee6b3d3224',
        userId: '506b8960-b76f-48bb-be3c-66eb59a1b656',
        deviceName: 'Work laptop',
        deviceType: 'web',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
        ipAddress: '203.0.113.7',
        createdAt: '2026-11-29T07:27:30.339Z',
        lastUsedAt: '2026-11-29T08:12:05.120Z',
        expiresAt: '2026-12-29T08:12:05.120Z',
      },
    ],
  })
  items!: AdminSessionDto[];

  @ApiProperty({ type: String, nullable: true, example: 'WyIyMDI2LTExLTI5VDA4OjEyOjA1LjEyMDAwMFoiXQ', description: 'Pass as `cursor` for the next page; null on the last one.' })
  nextCursor!: string | null;
}

export class AdminUserDto {
  @ApiProperty({ format: 'uuid', example: '506b8960-b76f-48bb-be3c-66eb59a1b656' })
  id!: string;

  @ApiProperty({ example: 'ada@example.com' })
  email!: string;

  @ApiProperty({ enum: USER_ROLES, example: 'user' })
  role!: string;

  @ApiProperty({ example: false, description: 'False: sign-in and refresh are refused and every session was revoked.' })
  isActive!: boolean;
}

export function toAdminSessionDto(s: AdminSession): AdminSessionDto {
  return {
    id: s.id,
    userId: s.userId,
    deviceName: s.deviceName,
    deviceType: s.deviceType,
    userAgent: s.userAgent,
    ipAddress: s.ipAddress,
    createdAt: s.createdAt.toISOString(),
    lastUsedAt: s.lastUsedAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
  };
}

export function toAdminUserDto(u: AdminUser): AdminUserDto {
  return { id: u.id, email: u.email, role: u.role, isActive: u.isActive };
}
