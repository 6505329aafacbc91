/**
 * The gateway: the one HTTP edge for people, the console, alert sources and
 * AI clients. This file lists everything other parts may use.
 */
export { createGateway, toProblem } from './app.ts';
export { authenticate, bearerChallenge, tokenRefused } from './auth.ts';
export { HttpProblem, principalOf, requireScope } from './context.ts';
export { GatewayStartError, IngestError } from './errors.ts';
export { DEFAULT_BODY_LIMIT_BYTES, DEFAULT_RATE_LIMITS, RateLimiter, Throttle } from './hardening.ts';
export { dependencyProbes, startGateway } from './main.ts';
export { openApiDocument, ROUTES } from './openapi.ts';
export {
  jsonBody,
  jsonDepth,
  MAX_JSON_DEPTH,
  params,
  parseJsonText,
  parseWith,
  PROBLEM_JSON,
  problemBody,
  problemResponse,
  query,
} from './problem.ts';
export {
  foldPlans,
  incidentDetail,
  incidentEvents,
  incidentIdOf,
  INCIDENT_EVENTS_MAX,
  listIncidents,
  listPlans,
  pendingApprovals,
  projectIncident,
  QUERY_SCAN_MAX,
} from './queries.ts';
export { SESSION_TTL_S } from './routes/sessions.ts';
export { SessionEnds } from './session-ends.ts';

export type { GatewayMount, GatewayOptions } from './app.ts';
export type { GatewayEnv, Principal, ProblemStatus } from './context.ts';
export type { AccountDirectory, GatewayDeps, Probe, SecurityRecorder, TokenIssuer } from './deps.ts';
export type { RateLimit, RateLimits } from './hardening.ts';
export type { OpenApiPaths, RouteDoc } from './openapi.ts';
export type { RunningGateway, StartGatewayOptions } from './main.ts';
export type { ProblemBody, ValidationIssue } from './problem.ts';
export type { SessionEnd } from './session-ends.ts';
export type {
  ActionView,
  IncidentDetail,
  IncidentStatus,
  IncidentSummary,
  PendingApproval,
  PlanStatus,
  PlanView,
} from './queries.ts';
export type { AgentCredentialExtras, AgentCredentialRequest } from './routes/sessions.ts';
