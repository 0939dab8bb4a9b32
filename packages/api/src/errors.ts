/**
 * The one catalog of API errors. Every failure a client can see is an
 * ApiError carrying a Kubernetes `Status` body and its HTTP code.
 */

/** The field-level detail of an error (metav1.StatusCause). */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** A Kubernetes `Status` object, as returned for every error. */
export interface Status {
  apiVersion: 'v1';
  kind: 'Status';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message: string;
  reason: StatusReason;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
  code: number;
}

/** Machine-readable reasons, each with its HTTP status code. */
export const STATUS_REASONS = {
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  AlreadyExists: 409,
  Conflict: 409,
  Gone: 410,
  RequestEntityTooLarge: 413,
  UnsupportedMediaType: 415,
  Invalid: 422,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
} as const;

/** A reason from the catalog. */
export type StatusReason = keyof typeof STATUS_REASONS;

/** One problem found by validation, with the path of the offending field. */
export interface FieldError {
  /** Kubernetes cause type: FieldValueRequired, FieldValueInvalid, … */
  type: 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported' | 'FieldValueDuplicate' | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueTypeInvalid' | 'FieldValueNotFound';
  /** Dotted path with indices, e.g. `spec.containers[0].image`. */
  field: string;
  message: string;
}

/** Details that name the object an error is about. */
export interface ErrorSubject {
  group?: string;
  kind?: string;
  name?: string;
  uid?: string;
}

/** An error that the API returns to a client as a `Status`. */
export class ApiError extends Error {
  readonly status: Status;

  constructor(reason: StatusReason, message: string, details?: Status['details']) {
    super(message);
    this.name = 'ApiError';
    this.status = {
      apiVersion: 'v1',
      kind: 'Status',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(details ? { details } : {}),
      code: STATUS_REASONS[reason],
    };
  }

  /** The HTTP status code. */
  get code(): number {
    return this.status.code;
  }

  /** The catalog reason. */
  get reason(): StatusReason {
    return this.status.reason;
  }
}

const subject = (resource: string, group = '') => (group ? `${resource}.${group}` : resource);

/** 404: `pods "web" not found`. */
export function notFound(resource: string, name: string, group?: string): ApiError {
  return new ApiError('NotFound', `${subject(resource, group)} "${name}" not found`, { name, kind: resource, ...(group ? { group } : {}) });
}

/** 409: `pods "web" already exists`. */
export function alreadyExists(resource: string, name: string, group?: string): ApiError {
  return new ApiError('AlreadyExists', `${subject(resource, group)} "${name}" already exists`, { name, kind: resource, ...(group ? { group } : {}) });
}

/** 409: the object changed since the client read it. */
export function conflict(resource: string, name: string, why: string, group?: string): ApiError {
  return new ApiError(
    'Conflict',
    `Operation cannot be fulfilled on ${subject(resource, group)} "${name}": ${why}`,
    { name, kind: resource, ...(group ? { group } : {}) },
  );
}

/** 422 with one cause per field error, each naming its field path. */
export function invalid(kind: string, name: string, errors: FieldError[], group?: string): ApiError {
  const summary = errors.map((e) => `${e.field}: ${e.message}`).join(', ');
  return new ApiError('Invalid', `${kind} "${name}" is invalid: ${summary}`, {
    name,
    kind,
    ...(group ? { group } : {}),
    causes: errors.map((e) => ({ reason: e.type, message: e.message, field: e.field })),
  });
}

/** 400. */
export function badRequest(message: string): ApiError {
  return new ApiError('BadRequest', message);
}

/** 401. */
export function unauthorized(message = 'Unauthorized'): ApiError {
  return new ApiError('Unauthorized', message);
}

/** 403, worded as Kubernetes does. */
export function forbidden(user: string, verb: string, resource: string, namespace: string | undefined, why?: string): ApiError {
  const where = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
  return new ApiError('Forbidden', `User "${user}" cannot ${verb} resource "${resource}"${where}${why ? `: ${why}` : ''}`, { kind: resource });
}

/** 410: the requested resourceVersion has been compacted. */
export function gone(message: string): ApiError {
  return new ApiError('Gone', message);
}

/** 500, for failures that are the server's fault. */
export function internalError(message: string): ApiError {
  return new ApiError('InternalError', `Internal error occurred: ${message}`);
}

/** 503, e.g. while etcd is unreachable. */
export function serviceUnavailable(message: string): ApiError {
  return new ApiError('ServiceUnavailable', message);
}

/** True when `err` is an ApiError with the given reason. */
export function isReason(err: unknown, reason: StatusReason): boolean {
  return err instanceof ApiError && err.reason === reason;
}

/** True when `err` is a Status body (e.g. parsed from a response) rather than an ApiError. */
export function isStatus(value: unknown): value is Status {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status';
}
