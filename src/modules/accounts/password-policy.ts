import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../infra/project-root.js';
import { accountError } from './errors.js';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

const dataFile = () => path.join(projectRoot(), 'data', 'common-passwords.txt');

let blocklist: Set<string> | null = null;
export function commonPasswords(): Set<string> {
  blocklist ??= new Set(
    readFileSync(dataFile(), 'utf8')
      .split('\n')
      .map((l) => l.trim().toLowerCase())
      .filter(Boolean),
  );
  return blocklist;
}

/**
 * NIST 800-63B: length and a blocklist, no composition rules. Length counts characters as a
 * person sees them (code points), not UTF-16 units.
 */
export function checkPassword(password: string, email?: string): void {
  const length = [...password].length;
  if (length < PASSWORD_MIN) throw accountError('PASSWORD_TOO_SHORT', `Use at least ${PASSWORD_MIN} characters.`);
  if (length > PASSWORD_MAX) throw accountError('PASSWORD_TOO_LONG', `Use at most ${PASSWORD_MAX} characters.`);
  const lower = password.toLowerCase();
  if (commonPasswords().has(lower)) {
    throw accountError('PASSWORD_TOO_COMMON', 'This password is among the most common ones attackers try first; choose another.');
  }
  const local = email?.split('@')[0]?.toLowerCase();
  if (email && (lower === email.toLowerCase() || (local && local.length >= 4 && lower === local))) {
    throw accountError('PASSWORD_CONTAINS_EMAIL', 'The password must not be your email address.');
  }
}
