import { Transform } from 'class-transformer';
import {
  IsEmail,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  registerDecorator,
  ValidationArguments,
  ValidationOptions,
} from 'class-validator';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_BYTES } from '../users/password';
import { DEVICE_TYPES, DeviceType } from '../sessions/session.entity';
import { DEVICE_NAME_MAX_LENGTH } from '../sessions/session.dto';

const trim = ({ value }: { value: unknown }): unknown => (typeof value === 'string' ? value.trim() : value);
const NO_CONTROL_CHARS = /^[^\u0000-\u001f\u007f]*$/;

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
  @Transform(trim)
  @IsString()
  @MaxLength(254)
  @IsEmail({}, { message: 'email must be a valid email address' })
  email!: string;

  @IsPassword(PASSWORD_MIN_BYTES)
  password!: string;

  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(100)
  @Matches(NO_CONTROL_CHARS, { message: 'displayName must not contain control characters' })
  displayName?: string;
}

export class LoginDto {
  @Transform(trim)
  @IsString()
  @MaxLength(254)
  email!: string;

  /** Only the upper bound: a stored password is never longer, and bcrypt must not truncate. */
  @IsPassword(1)
  password!: string;

  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(DEVICE_NAME_MAX_LENGTH)
  @Matches(NO_CONTROL_CHARS, { message: 'deviceName must not contain control characters' })
  deviceName?: string;

  @IsOptional()
  @IsIn(DEVICE_TYPES, { message: `deviceType must be one of: ${DEVICE_TYPES.join(', ')}` })
  deviceType?: DeviceType;
}

export class RefreshDto {
  @IsString()
  @MaxLength(512)
  refreshToken!: string;
}

export class ChangePasswordDto {
  @IsPassword(1)
  currentPassword!: string;

  @IsPassword(PASSWORD_MIN_BYTES)
  newPassword!: string;
}

export interface TokensDto {
  accessToken: string;
  refreshToken: string;
  tokenType: 'Bearer';
  expiresIn: number;
  sessionId: string;
}

export interface UserDto {
  id: string;
  email: string;
  displayName: string | null;
  createdAt: string;
}
