import { isGrpcServiceError } from '@temporalio/client';

/** PostgreSQL's SQLSTATEs for a server that is gone, starting or shutting down, or full. */
const POSTGRES_UNAVAILABLE = /^(08...|57P0[123]|53300)$/;
// gRPC's status code UNAVAILABLE (its enum lives in a package we do not depend on directly).
const GRPC_UNAVAILABLE = 14;
const GRPC_FAILED_PRECONDITION = 9;
// While a workflow's task is being retried (its worker was killed holding it, or it failed once),
// Temporal refuses updates to it with FAILED_PRECONDITION until a worker completes the task.
const WORKFLOW_TASK_RETRYING = /Workflow Task in failed state/;
const SOCKET_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
// node-postgres reports a connection that dies under a query, or never comes up, in words alone.
const POSTGRES_CONNECTION_LOST =
  /^Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/;

/**
 * Whether a request failed because PostgreSQL or Temporal is unreachable for now (restarting,
 * failing over), or the grant's workflow cannot take an update until its task is retried: nothing
 * the caller did and nothing wrong with us, so it is answered 503 (retry shortly) rather than 500.
 */
export function isOutage(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (POSTGRES_UNAVAILABLE.test(code) || SOCKET_ERRORS.has(code))) return true;
    if (POSTGRES_CONNECTION_LOST.test(e.message)) return true;
    if (isGrpcServiceError(e) && Number(e.code) === GRPC_UNAVAILABLE) return true;
    if (
      isGrpcServiceError(e) &&
      Number(e.code) === GRPC_FAILED_PRECONDITION &&
      WORKFLOW_TASK_RETRYING.test(e.message)
    )
      return true;
  }
  return false;
}
