export {
  createVerifier,
  TokenVerificationError,
  SUPPORTED_ALGORITHMS,
  type AccessTokenClaims,
  type Algorithm,
  type KeyResolver,
  type VerificationKey,
  type Verifier,
  type VerifierOptions,
} from './verifier.js';
