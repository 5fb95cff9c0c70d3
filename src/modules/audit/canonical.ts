import canonicalize from 'canonicalize';

/**
 * RFC 8785 (JSON Canonicalization Scheme): sorted keys, no whitespace, ECMAScript number and
 * string forms. An auditor can recompute every hash of the chain from the spec alone.
 * Dates serialise as their ISO string (toJSON); undefined members are left out.
 */
export function canonicalJson(value: unknown): string {
  return canonicalize(value) ?? 'null';
}
