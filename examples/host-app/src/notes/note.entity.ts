import { defineEntity, p } from '@mikro-orm/core';

/** A row of this app's `notes` table (src/migrations/create-notes.migration.ts). */
const NoteSchema = defineEntity({
  name: 'Note',
  tableName: 'notes',
  properties: {
    id: p.uuid().primary().defaultRaw('gen_random_uuid()'),
    userId: p.uuid().fieldName('user_id'),
    body: p.text(),
    createdAt: p.datetime().columnType('timestamptz').defaultRaw('now()'),
  },
});

export class Note extends NoteSchema.class {}
NoteSchema.setClass(Note);
