import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsOptional,
  IsString,
  MaxLength,
  registerDecorator,
  ValidationArguments,
  ValidationOptions,
} from 'class-validator';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES } from '../users/password';
import { DEVICE_TYPES, DeviceType } from '../sessions/session.entity';
import { DEVICE_NAME_MAX_LENGTH } from '../sessions/session.dto';
import { NoControlCharacters } from '../core/validation';

const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);

/**
 * A password measured in UTF-8 bytes, as bcrypt sees it: between `min` and 72 bytes, no NUL (bcrypt
 * would stop reading there). Longer is refused, never silently truncated.
 */
export function IsPassword(min: number, options?: ValidationOptions): PropertyDecorator {
  return (object: object, propertyName: string | symbol) =>
    registerDecorator({
      name: 'isPassword',
      target: object.constructor,
      propertyName: propertyName as string,
      options,
      validator: {
        validate: (value: unknown) =>
          typeof value === 'string' &&
          !value.includes('\u0000') &&
          Buffer.byteLength(value, 'utf8') >= min &&
          Buffer.byteLength(value, 'utf8') <= PASSWORD_MAX_BYTES,
        defaultMessage: (args?: ValidationArguments) =>
          `${args?.property} must be a string of ${min} to ${PASSWORD_MAX_BYTES} bytes (UTF-8) without NUL characters`,
      },
    });
}

export class RegisterDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254, description: 'Trimmed; compared case-insensitively.' })
  @Transform(trim)
  @IsString()
  @MaxLength(254)
  @NoControlCharacters()
  @IsEmail({}, { message: 'email must be a valid email address' })
  email!: string;

  @ApiProperty({ example: 'correct horse battery', format: 'password', description: '8 to 72 bytes (UTF-8), no NUL.' })
  @IsPassword(PASSWORD_MIN_BYTES)
  password!: string;

  @ApiPropertyOptional({ example: 'Ada Lovelace', maxLength: 100 })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(100)
  @NoControlCharacters()
  displayName?: string;
}

export class LoginDto {
  @ApiProperty({ example: 'ada@example.com', maxLength: 254 })
  @Transform(trim)
  @IsString()
  @MaxLength(254)
  @NoControlCharacters()
  email!: string;

  /** Only the upper bound: a stored password is never longer, and bcrypt must not truncate. */
  @ApiProperty({ example: 'correct horse battery', format: 'password', description: 'At most 72 bytes (UTF-8).' })
  @IsPassword(1)
  password!: string;

  @ApiPropertyOptional({ example: 'Work laptop', maxLength: DEVICE_NAME_MAX_LENGTH, description: 'A label for this sign-in.' })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(DEVICE_NAME_MAX_LENGTH)
  @NoControlCharacters()
  deviceName?: string;

  @ApiPropertyOptional({ enum: DEVICE_TYPES, example: 'web', description: 'Derived from the User-Agent when omitted.' })
  @IsOptional()
  @IsIn(DEVICE_TYPES, { message: `deviceType must be one of: ${DEVICE_TYPES.join(', ')}` })
  deviceType?: DeviceType;

  @ApiPropertyOptional({
    enum: ['body', 'cookie'],
    example: 'cookie',
    description:
      'Where the refresh token goes: `body` (the JSON response) or `cookie` (an HttpOnly, SameSite=Strict cookie, ' +
      'for browser apps). Only a service with REFRESH_TOKEN_TRANSPORT=both lets the client choose (default body); ' +
      'otherwise only its own transport is accepted.',
  })
  @IsOptional()
  @IsIn(['body', 'cookie'], { message: 'refreshTokenTransport must be one of: body, cookie' })
  refreshTokenTransport?: 'body' | 'cookie';
}

export class RefreshDto {
  @ApiPropertyOptional({
    example: 'EXAMPLE-not-a-real-refresh-token.EXAMPLEMAC',
    description:
      'The refreshToken from the last login or refresh. Required, unless the refresh token travels in the cookie ' +
      '(REFRESH_TOKEN_TRANSPORT=cookie: leave it out; =both: leave it out to use the cookie).',
  })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  refreshToken?: string;
}

export class ChangePasswordDto {
  @ApiProperty({ example: 'correct horse battery', format: 'password' })
  @IsPassword(1)
  currentPassword!: string;

  @ApiProperty({ example: 'a new passphrase, 8 to 72 bytes', format: 'password' })
  @IsPassword(PASSWORD_MIN_BYTES)
  newPassword!: string;
}

export class TokensDto {
  @ApiProperty({ example: 'eyJhbGciOiJIUzI1NiJ9.EXAMPLE-ACCESS-TOKEN.NOT-A-REAL-SIGNATURE', description: 'Short-lived JWT for the Authorization: Bearer header.' })
  accessToken!: string;

  @ApiPropertyOptional({
    example: 'EXAMPLE-not-a-real-refresh-token.EXAMPLEMAC',
    description: 'Single-use: each refresh returns a new one. Absent when it is set as the refresh-token cookie instead.',
  })
  refreshToken!: string;

  @ApiProperty({ enum: ['Bearer'], example: 'Bearer' })
  tokenType!: 'Bearer';

  @ApiProperty({ example: 900, description: 'Access token lifetime in seconds.' })
  expiresIn!: number;

  @ApiProperty({ format: 'uuid', example: '6dff5a5b-2eb5-4f14-9e5c-4bee6b3d3224' })
  sessionId!: string;
}

export class UserDto {
  @ApiProperty({ format: 'uuid', example: '506b8960-b76f-48bb-be3c-66eb59a1b656' })
  id!: string;

  @ApiProperty({ example: 'ada@example.com' })
  email!: string;

  @ApiProperty({ type: String, nullable: true, example: 'Ada Lovelace' })
  displayName!: string | null;

  @ApiProperty({ format: 'date-time', example: '2026-11-29T07:27:30.339Z' })
  createdAt!: string;
}
