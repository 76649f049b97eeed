// Okta-shaped error responses (schema `Error` of the management API, CONTRACT.md §4).
// Handlers throw an OktaError; server.mjs renders it with errorBody().
import { randomInt } from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlnum(length) {
  let out = '';
  for (let i = 0; i < length; i++) out += ALNUM[randomInt(ALNUM.length)];
  return out;
}

export class OktaError extends Error {
  constructor(status, code, summary, causes = [], headers = {}) {
    super(summary);
    this.status = status;
    this.code = code;
    this.causes = causes;
    this.headers = headers;
  }
}

export function errorBody(err) {
  return {
    errorCode: err.code,
    errorSummary: err.message,
    errorLink: err.code,
    // Real errorIds look like `oae` + 19 characters; tests only need uniqueness.
    errorId: `oae${randomAlnum(19)}`,
    errorCauses: err.causes.map((c) => ({ errorSummary: c })),
  };
}

// Values are quoted on purpose: Okta echoes offending values in error causes, and the
// client under test must redact secrets (e.g. authorization_header) that come back this way.
export function quote(value) {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

// problems: [{field, message}] — one errorCauses entry each, summary names the first field.
export function validationFailed(problems) {
  return new OktaError(400, 'E0000001', `Api validation failed: ${problems[0].field}`,
    problems.map((p) => `${p.field}: ${p.message}`));
}

export const malformedBody = () =>
  new OktaError(400, 'E0000003', 'The request body was not well-formed.',
    ['The request body was not well-formed.']);

// extraHeaders: e.g. the DPoP-Nonce a `use_dpop_nonce` challenge hands out.
export const invalidToken = (wwwAuthenticate, extraHeaders = {}) =>
  new OktaError(401, 'E0000011', 'Invalid token provided', [],
    { 'WWW-Authenticate': wwwAuthenticate, ...extraHeaders });

export const accessDenied = (wwwAuthenticate) =>
  new OktaError(403, 'E0000006', 'You do not have permission to perform the requested action', [],
    { 'WWW-Authenticate': wwwAuthenticate });

export const notFound = (id, type = 'SsfStream') =>
  new OktaError(404, 'E0000007', `Not found: Resource not found: ${id} (${type})`);

export const methodNotAllowed = (allowed) =>
  new OktaError(405, 'E0000022', 'The endpoint does not support the provided HTTP method', [],
    { Allow: allowed.join(', ') });

export const conflict = (reason) =>
  new OktaError(409, 'E0000195', `Api validation failed due to conflict: ${reason}`, [reason]);

export const tooLarge = (limit) =>
  new OktaError(413, 'E0000003', 'The request body was not well-formed.',
    [`The request body exceeds the maximum size of ${limit} bytes.`]);

export const tooManyRequests = () =>
  new OktaError(429, 'E0000047', 'API call exceeded rate limit due to too many requests.');

export const internalError = () =>
  new OktaError(500, 'E0000009', 'Internal Server Error');
