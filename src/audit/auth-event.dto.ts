import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { AUTH_EVENT_TYPES, AuthEvent, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './audit-event';

/** `?cursor=&limit=` of every cursor-paginated list. */
export class PageQueryDto {
  @ApiPropertyOptional({ type: String, description: "The previous page's `nextCursor`. Leave out for the first page." })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9_-]*$/, { message: 'cursor must be a cursor returned by this API' })
  cursor?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: DEFAULT_PAGE_SIZE, example: 20 })
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d{1,6}$/.test(value) ? Number(value) : value))
  @IsInt({ message: 'limit must be a whole number' })
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

export class AuthEventDto {
  @ApiProperty({ format: 'uuid', example: '0b9d6a4e-7a51-4ef0-9f83-1c2f3a4b5c6d' })
  id!: string;

  @ApiProperty({ example: 'session.revoked', description: `What happened. Recorded by the library: ${AUTH_EVENT_TYPES.join(', ')}.` })
  type!: string;

  @ApiProperty({ format: 'uuid', example: '506b8960-b76f-48bb-be3c-66eb59a1b656', description: 'The account the event is about.' })
  userId!: string;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: '506b8960-b76f-48bb-be3c-66eb59a1b656', description: 'Who caused it: the user, an admin, or null for the service itself.' })
  actorId!: string | null;

  @ApiProperty({ type: String, format: 'uuid', nullable: true, example: '6dff5a5b-2eb5-4f14-9e5c-4bee6b3d3224' })
  sessionId!: string | null;

  @ApiProperty({ type: String, nullable: true, example: '203.0.113.7', description: 'Client address of the request that caused it, if known.' })
  ipAddress!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0' })
  userAgent!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'admin_action', description: 'Revocation or failure reason, or the new role.' })
  reason!: string | null;

  @ApiProperty({ type: String, nullable: true, example: 'rotated_token_replayed', description: 'More about it (never a secret).' })
  detail!: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-29T07:27:30.339Z' })
  createdAt!: string;
}

export class AuthEventPageDto {
  @ApiProperty({
    type: AuthEventDto,
    isArray: true,
    description: 'Newest first.',
    example: [
      {
        id: '0b9d6a4e-7a51-4ef0-9f83-1c2f3a4b5c6d',
        type: 'session.revoked',
        userId: '506b8960-b76f-48bb-be3c-66eb59a1b656',
        actorId: '506b8960-b76f-48bb-be3c-66eb59a1b656',
        sessionId: '6dff5a5b-2eb5-4f14-9e5c-4bee6b3d3224',
        ipAddress: '203.0.113.7',
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
        reason: 'logout',
        detail: null,
        createdAt: '2026-11-29T07:27:30.339Z',
      },
    ],
  })
  items!: AuthEventDto[];

  @ApiProperty({ type: String, nullable: true, example: 'WyIyMDI2LTExLTI5VDA3OjI3OjMwLjMzOTAwMFoiXQ', description: 'Pass as `cursor` for the next page; null on the last one.' })
  nextCursor!: string | null;
}

export function toAuthEventDto(e: AuthEvent): AuthEventDto {
  return { ...e, createdAt: e.createdAt.toISOString() };
}
