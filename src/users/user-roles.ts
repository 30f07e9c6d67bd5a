import { Client } from 'pg';
import { normaliseEmail } from './email';
import type { UserRole } from './user.entity';

export interface RoleChange {
  userId: string;
  email: string;
  previousRole: UserRole;
  role: UserRole;
}

/**
 * Sets the role of the account with this email, over the OWNER connection (the runtime role cannot:
 * `users_set_role` is executable only by the role that ran the migrations). This is how the first
 * admin is made (`npm run users:grant-admin -- <email>`). Records `user.role_changed` in the audit log
 * when the role changes. Returns undefined for an unknown email.
 */
export async function setUserRole(ownerUrl: string, email: string, role: UserRole): Promise<RoleChange | undefined> {
  const normalised = normaliseEmail(email);
  const client = new Client({ connectionString: ownerUrl, application_name: 'nest-rls-auth users-role' });
  await client.connect();
  try {
    const { rows } = await client.query<{ user_id: string; previous_role: UserRole; role: UserRole }>(
      'select user_id, previous_role, role from users_set_role($1, $2)',
      [normalised, role],
    );
    const r = rows[0];
    return r && { userId: r.user_id, email: normalised, previousRole: r.previous_role, role: r.role };
  } finally {
    await client.end();
  }
}
