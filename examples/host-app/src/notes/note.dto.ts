import { IsOptional, IsString, IsUUID, Length } from 'class-validator';

export class CreateNoteDto {
  @IsString()
  @Length(1, 1000)
  text: string;

  /** Whose note it is: the caller's by default. Row Level Security refuses anyone else's (403). */
  @IsOptional()
  @IsUUID()
  forUserId?: string;
}

export interface NoteDto {
  id: string;
  text: string;
  createdAt: string;
}
