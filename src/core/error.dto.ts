import { ApiProperty } from '@nestjs/swagger';

/** Every error response: Nest's `{statusCode, message, error}`. */
export class ErrorDto {
  @ApiProperty({ example: 401 })
  statusCode!: number;

  @ApiProperty({
    oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
    example: 'Unauthorized',
    description: 'A message, or the list of validation failures for a 400.',
  })
  message!: string | string[];

  @ApiProperty({ example: 'Unauthorized', required: false })
  error?: string;
}
