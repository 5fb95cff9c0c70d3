/** The form an address is compared in: accounts are unique by it and throttles count by it. */
export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}
