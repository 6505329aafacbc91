/**
 * Governance: policy, approvals, identity and scopes, the token ledger and
 * semantic cache, the audit log. This file lists everything other parts may
 * use; each part below keeps its own block.
 */

// --- policy: the governor's policy engine (governance/policy/) ---
export {
  activeFreezes,
  approvalsFor,
  approvalsLacking,
  breakerStatus,
  defaultPolicy,
  effectiveTier,
  emptyPolicyState,
  evaluate,
  halfOpenAtMs,
  isFreezeActive,
  isTimeZone,
  loadPolicy,
  MAX_EXECUTIONS,
  MIN_APPROVALS,
  parsePolicy,
  PolicyError,
  PolicyErrorCode,
  policyHorizonMs,
  PolicySchema,
  prune,
  recordApproval,
  recordExecution,
  replicasOf,
  RISK_TIERS,
  validApprovals,
  wallClock,
  WEEKDAYS,
  zonedTimeToUtc,
} from './policy/index.ts';
export type {
  Approval,
  ApprovalProof,
  ApprovedDecision,
  BreakerState,
  BreakerStatus,
  Decision,
  DecisionOutcome,
  DryRunDecision,
  EvaluatedPlan,
  EvaluationContext,
  ExecutionOutcome,
  ExecutionRecord,
  FreezeWindow,
  NeedsApprovalDecision,
  Policy,
  PolicyInput,
  PolicyIssue,
  PolicyMode,
  PolicyState,
  RecordOptions,
  RejectedDecision,
  ShadowDecision,
  Verdict,
  WallClock,
  Weekday,
} from './policy/index.ts';
// --- end policy ---

// --- cache and ledger: semantic cache of root-cause answers (governance/cache/), token ledger (governance/ledger/) ---
export { canonicalWords, metricWords, normaliseEvidence, polarityFacts } from './cache/normalise.ts';
export { cosine, embedLocal, LocalEmbedder, OpenAIEmbedder } from './cache/embedding.ts';
export { SemanticCache } from './cache/semantic-cache.ts';
export { CacheConfigError, CacheError, CacheValueError, EmbeddingError } from './cache/errors.ts';
export { addSums, TokenLedger, utcDay } from './ledger/token-ledger.ts';
export { costMicroUsd, defaultPriceTable, formatUsd, parsePriceTable, priceFor } from './ledger/prices.ts';
export { countTokens, encodingForModelName } from './ledger/tokens.ts';
export { COST_COLUMNS, costJson, costRows } from './ledger/costs-report.ts';
export { LedgerConfigError, LedgerError, LedgerRecordError } from './ledger/errors.ts';
export type {
  CacheAnomaly,
  CacheChange,
  CacheEvidence,
  CacheLog,
  CacheRestart,
  NormalisedEvidence,
} from './cache/normalise.ts';
export type { Embedder, LocalEmbedderOptions, OpenAIEmbedderOptions } from './cache/embedding.ts';
export type {
  CachedAnswer,
  CacheKey,
  CacheLookup,
  CacheStats,
  RootCauseAnswer,
  SemanticCacheOptions,
} from './cache/semantic-cache.ts';
export type {
  BudgetDecision,
  BudgetLimit,
  BudgetLimitName,
  Budgets,
  BudgetSpend,
  GroupSums,
  LedgerGroup,
  LedgerSummary,
  LedgerSums,
  LlmCall,
  RecordResult,
  TokenLedgerOptions,
} from './ledger/token-ledger.ts';
export type { ModelPrice, PriceTable } from './ledger/prices.ts';
export type { TokenEncodingName } from './ledger/tokens.ts';
export type { CostJsonRow, CostReportJson } from './ledger/costs-report.ts';
// --- end cache and ledger ---

// --- runbooks: the remediation catalogue (governance/runbooks/) ---
export {
  CatalogueError,
  catalogueSchema,
  changeRecordFacts,
  DEFAULT_CATALOGUE_PATH,
  loadCatalogue,
  parseCatalogue,
  PLAN_TTL_MS,
  RECENT_DEPLOY_MS,
  recordedFacts,
  resolveParameters,
  RunbookErrorCode,
  runbookFor,
  runbooksFitting,
  unmetPreconditions,
  verificationCheckSchema,
} from './runbooks/index.ts';
export type {
  ParameterSpec,
  ParameterValue,
  Preconditions,
  RollbackSpec,
  Runbook,
  RunbookCatalogue,
  TargetFacts,
  VerificationCheck,
} from './runbooks/index.ts';
// --- end runbooks ---

// --- approval: the hash an approval binds to, its challenge, and its verification (governance/approval/) ---
export { canonicalJson, planHash } from './approval/plan-hash.ts';
export { approvalChallenge, bindingText, newNonce } from './approval/approval-challenge.ts';
export { ApprovalVerifier } from './approval/verify-approval.ts';
export type { ApprovalBinding } from './approval/approval-challenge.ts';
export type { ApprovalClaim, ApprovalRegistry, ApprovalVerdict } from './approval/verify-approval.ts';
// --- end approval ---

// --- identity: scopes, tokens, people, sessions, security log, NATS credentials (governance/identity/) ---
export {
  Accounts,
  AGENT_ROLES,
  agentScopes,
  certifySigner,
  createAgentNkey,
  CredentialStore,
  EVENTS_AUDIENCE,
  EventSigningKey,
  durablesOf,
  eventSubjects,
  GATEWAY_AUDIENCE,
  IDENTITY_COMPONENT,
  IdentityError,
  IdentityErrorCode,
  identityMigrations,
  isAgentRole,
  isPersonRole,
  KeyStoreError,
  MAX_SESSION_TTL_S,
  MAX_TOKEN_TTL_S,
  mayPublish,
  mintAgentUser,
  natsInboxPrefix,
  natsPermissions,
  PASSWORD_LENGTH,
  PERSON_ROLES,
  personScopes,
  PRINCIPAL_KINDS,
  ROLE_GRANTS,
  SECURITY_KINDS,
  SecurityLog,
  SIGNER_TTL_S,
  SignerVerifier,
  TokenAuthority,
  TokenType,
  USERNAME_PATTERN,
  WEBAUTHN_COMPONENT,
  webauthnMigrations,
} from './identity/index.ts';
export type {
  Account,
  AccountsOptions,
  AgentRole,
  IdentityStatus,
  IssueRequest,
  MintAgentUserInput,
  NatsPermissions,
  NewCredential,
  PersonRole,
  PrincipalKind,
  RoleGrant,
  SecurityEvent,
  SecurityKind,
  SecurityRecord,
  Session,
  SignerIdentity,
  SignerVerifierOptions,
  SignInMethod,
  StoredCredential,
  SubjectPermission,
  TokenAuthorityOptions,
  VerifiedToken,
  VerifyExpectation,
} from './identity/index.ts';
// --- end identity ---
