import { z } from 'zod';

/** Second-factor methods an org may allow (backup codes can be left out, e.g. for phishing resistance). */
export const POLICY_METHODS = ['totp', 'sms', 'webauthn', 'backup_code'] as const;
export type PolicyMethod = (typeof POLICY_METHODS)[number];
/** The factors a member can enrol (backup codes come with them). */
export const ENROLLABLE = ['totp', 'sms', 'webauthn'] as const;
export type EnrollableFactor = (typeof ENROLLABLE)[number];

const DAY_MS = 86_400_000;

/** The org security policy, as stored and as shown (every field present). */
export const securityPolicy = z.strictObject({
  require_mfa: z.boolean(),
  allowed_factors: z
    .array(z.enum(POLICY_METHODS))
    .min(1)
    .refine((a) => a.some((m) => m !== 'backup_code'), 'must allow at least one factor besides backup codes'),
  enrollment_grace_days: z.number().int().min(0).max(90),
  /** Seconds from login: shortens the 12-hour default. */
  session_absolute_ttl: z.number().int().min(300).max(43_200).nullable(),
  /** Seconds without a refresh after which the session ends. */
  session_idle_ttl: z.number().int().min(300).max(43_200).nullable(),
});
export type SecurityPolicy = z.infer<typeof securityPolicy>;

/** A PATCH: any subset of the fields. */
export const securityPolicyPatch = securityPolicy.partial();

export const DEFAULT_POLICY: SecurityPolicy = {
  require_mfa: false,
  allowed_factors: [...POLICY_METHODS],
  enrollment_grace_days: 7,
  session_absolute_ttl: null,
  session_idle_ttl: null,
};

/** The stored JSON, completed with the defaults (a row written before a field existed still reads whole). */
export function policyOf(stored: Record<string, unknown>): SecurityPolicy {
  const parsed = securityPolicy.safeParse({ ...DEFAULT_POLICY, ...stored });
  return parsed.success ? parsed.data : DEFAULT_POLICY;
}

/** What the policy asks of one member's second factor at login. */
export type FactorRule =
  /** The account's own rule: its factors if it has any, else the password alone. */
  | { kind: 'account' }
  /** These of the account's methods, and only these. */
  | { kind: 'methods'; methods: string[] }
  /** None of the account's methods will do: a factor must be enrolled first (one of these). */
  | { kind: 'enroll'; factors: EnrollableFactor[] };

/**
 * When the member's grace period ends: it runs from the later of their joining and the policy's
 * last tightening (`since`), so switching the policy on gives everyone the grace period.
 */
export function graceEndsAt(policy: SecurityPolicy, since: Date | null, joinedAt: Date): Date {
  const start = since && since > joinedAt ? since : joinedAt;
  return new Date(start.getTime() + policy.enrollment_grace_days * DAY_MS);
}

/**
 * The rule for a member with these login methods (null: no factor at all). A member who meets the
 * policy uses the allowed methods only; one who does not is sent to enrol, once their grace period
 * is over (until then their account's own rule applies).
 */
export function factorRule(policy: SecurityPolicy, methods: readonly string[] | null, graceOver: boolean): FactorRule {
  const allowed = (methods ?? []).filter((m) => (policy.allowed_factors as string[]).includes(m));
  const hasAllowedFactor = allowed.some((m) => m !== 'backup_code');
  if (hasAllowedFactor) return { kind: 'methods', methods: allowed };
  const compliant = methods === null && !policy.require_mfa;
  if (compliant || !graceOver) return { kind: 'account' };
  return { kind: 'enroll', factors: ENROLLABLE.filter((f) => (policy.allowed_factors as string[]).includes(f)) };
}

/** Whether a session at this aal may hold tokens for the org: a required second factor, once the grace period is over. */
export const aalAllowed = (policy: SecurityPolicy, aal: number, graceOver: boolean) => !(policy.require_mfa && graceOver && aal < 2);

/** Whether the policy says anything about second factors: required, or only some kinds allowed. */
export const hasFactorRules = (policy: SecurityPolicy) =>
  policy.require_mfa || POLICY_METHODS.some((m) => !(policy.allowed_factors as string[]).includes(m));

/** Whether an account with these factor kinds meets the policy (the team list's "out of policy"). */
export function meetsPolicy(policy: SecurityPolicy, factorKinds: readonly string[]): boolean {
  const allowed = factorKinds.filter((k) => (policy.allowed_factors as string[]).includes(k));
  if (allowed.length > 0) return true;
  return !policy.require_mfa && factorKinds.length === 0;
}
