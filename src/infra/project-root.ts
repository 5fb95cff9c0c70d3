import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * The checkout (or image) root, holding data/ and migrations/: found from this file whether it
 * runs from src/ (tsx) or from dist/src/ (compiled).
 */
export function projectRoot(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  return parts
    .slice(0, parts.lastIndexOf('src'))
    .join(path.sep)
    .replace(/[\\/]dist$/, '');
}
