import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@mikro-orm/nestjs';
import { EntityManager, EntityRepository } from '@mikro-orm/postgresql';
import { Note } from './note.entity';
import type { NoteDto } from './note.dto';

/**
 * Reads and writes notes inside the request's transaction, which the module opens as the caller
 * (`app.current_user_id`): the repository and `em` below resolve to that transaction's entity
 * manager, so the `notes` policy filters every query. No `where user_id = …` anywhere.
 */
@Injectable()
export class NotesService {
  constructor(
    @InjectRepository(Note) private readonly notes: EntityRepository<Note>,
    private readonly em: EntityManager,
  ) {}

  /** The caller's notes: the policy hides everyone else's. */
  async list(): Promise<NoteDto[]> {
    const notes = await this.notes.findAll({ orderBy: { createdAt: 'asc', id: 'asc' } });
    return notes.map(toNoteDto);
  }

  /** How many notes the caller has, with raw SQL: `em.execute` runs in the same transaction. */
  async count(): Promise<number> {
    const [row] = await this.em.execute<{ count: number }[]>('select count(*)::int as count from notes');
    return row.count;
  }

  /** Writes a note for `userId`; for anyone but the caller the policy refuses it (SQLSTATE 42501, a 403). */
  async create(userId: string, text: string): Promise<NoteDto> {
    const note = this.notes.create({ userId, body: text });
    await this.em.flush();
    return toNoteDto(note);
  }
}

function toNoteDto(note: Note): NoteDto {
  return { id: note.id, text: note.body, createdAt: note.createdAt.toISOString() };
}
