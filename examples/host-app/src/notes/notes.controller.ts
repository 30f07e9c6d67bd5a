import { Body, Controller, Get, Post, UsePipes, ValidationPipe } from '@nestjs/common';
import { CurrentUser } from 'nest-rls-auth';
import type { AuthPrincipal } from 'nest-rls-auth';
import { CreateNoteDto } from './note.dto';
import type { NoteDto } from './note.dto';
import { NotesService } from './notes.service';

@Controller('notes')
@UsePipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true }))
export class NotesController {
  constructor(private readonly notes: NotesService) {}

  @Get()
  list(): Promise<NoteDto[]> {
    return this.notes.list();
  }

  @Get('count')
  async count(): Promise<{ count: number }> {
    return { count: await this.notes.count() };
  }

  @Post()
  create(@CurrentUser() me: AuthPrincipal, @Body() body: CreateNoteDto): Promise<NoteDto> {
    return this.notes.create(body.forUserId ?? me.userId, body.text);
  }
}
