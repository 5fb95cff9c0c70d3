import { randomBytes } from 'node:crypto';

/** A URL-friendly form of a name: "Acme Café GmbH" → "acme-cafe-gmbh" (never empty). */
export function slugify(name: string, max = 40): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, max)
    .replace(/-+$/, '');
  return slug || 'org';
}

/** The slug with a short random tail, for when the plain one is taken. */
export const withTail = (slug: string) => `${slug}-${randomBytes(3).toString('hex')}`;
