import { Migration } from '@mikro-orm/migrations';
import { RUNTIME_GROUP_ROLE } from 'nest-rls-auth';

/**
 * This app's own table, under Row Level Security like the module's: each user sees and writes only
 * their own notes. It refers to the module's `users` table, so it runs after the module's migrations.
 */
export class CreateNotesMigration extends Migration {
  override async up(): Promise<void> {
    this.addSql(`create table notes (
      id uuid primary key default gen_random_uuid(),
      user_id uuid not null references users (id) on delete cascade,
      body text not null check (char_length(body) between 1 and 1000),
      created_at timestamptz not null default now()
    )`);
    this.addSql('create index notes_user_id_created_at_idx on notes (user_id, created_at)');
    // FORCE: the owner is filtered too, so a mistaken owner connection sees nothing, not everything.
    this.addSql('alter table notes enable row level security');
    this.addSql('alter table notes force row level security');
    // nullif: after a transaction-local set_config, a pooled connection reads '' rather than NULL.
    this.addSql(`create policy notes_owner on notes
      using (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid)
      with check (user_id = nullif(current_setting('app.current_user_id', true), '')::uuid)`);
    // The runtime login role is a member of the module's group role: grant it what the app needs.
    this.addSql(`grant select, insert, delete on notes to ${RUNTIME_GROUP_ROLE}`);
    this.addSql(`grant update (body) on notes to ${RUNTIME_GROUP_ROLE}`);
  }

  override async down(): Promise<void> {
    this.addSql('drop table notes');
  }
}
