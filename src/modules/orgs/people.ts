/** What orgs asks of the modules that own people: accounts (names, emails) and mfa (factors). Handed in by the composition root. */
export type People = {
  /** Name, email, MFA status and verification of accounts, by id (missing: gone). */
  peopleOf(userIds: readonly string[]): Promise<Map<string, { name: string; email: string; mfaEnabled: boolean; verified: boolean }>>;
  /** Confirmed second-factor kinds per account. */
  factorKindsOf(userIds: readonly string[]): Promise<Map<string, string[]>>;
};
