import { ValidationPipe } from '@nestjs/common';

/** Strict body/query validation for the module's routes, whatever the host app configures globally. */
export const authValidationPipe = (): ValidationPipe =>
  new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, stopAtFirstError: false });
