import { Controller, Get, Header } from '@nestjs/common';
import { AuthRoutes } from './auth-routes.decorator';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { WithoutRlsTransaction } from '../core/decorators';
import { ApiStandardErrors } from '../core/api-responses';
import { LocalAccessTokenKeys, PublicJwk } from './access-token-keys';
import { Public } from '../core/decorators';

class JwkDto implements PublicJwk {
  @ApiProperty({ example: 'EC' }) kty!: string;
  @ApiProperty({ example: 'P-256', required: false }) crv?: string;
  @ApiProperty({ example: 'EXAMPLE-x-coordinate', required: false }) x?: string;
  @ApiProperty({ example: 'EXAMPLE-y-coordinate', required: false }) y?: string;
  @ApiProperty({ example: 'EXAMPLE-key-id' }) kid!: string;
  @ApiProperty({ example: 'ES256' }) alg!: string;
  @ApiProperty({ enum: ['sig'], example: 'sig' }) use!: 'sig';
}

class JwksDto {
  @ApiProperty({
    type: JwkDto,
    isArray: true,
    description: 'Empty when access tokens are HS256 (a shared secret is never published).',
    example: [{ kty: 'EC', crv: 'P-256', x: 'EXAMPLE-x-coordinate', y: 'EXAMPLE-y-coordinate', kid: 'EXAMPLE-key-id', alg: 'ES256', use: 'sig' }],
  })
  keys!: JwkDto[];
}

@ApiTags('auth')
@ApiStandardErrors()
@AuthRoutes()
@Controller('.well-known')
export class JwksController {
  constructor(private readonly keys: LocalAccessTokenKeys) {}

  @Public()
  @WithoutRlsTransaction()
  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=300')
  @ApiOperation({
    summary: 'Public keys that verify access tokens (JWKS)',
    description: 'With JWT_ALGORITHM=ES256: the current signing key and earlier ones whose tokens may still be valid.',
  })
  @ApiOkResponse({ type: JwksDto, description: 'The JSON Web Key Set.' })
  jwks(): JwksDto {
    return this.keys.jwks();
  }
}
