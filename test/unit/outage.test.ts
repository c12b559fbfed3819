import { describe, expect, it } from 'vitest';
import { isOutage } from '../../api/outage.ts';

const withCode = (message: string, code: string | number) => Object.assign(new Error(message), { code });

describe('isOutage', () => {
  it('is PostgreSQL gone, starting, shutting down or full, and sockets refused or reset', () => {
    expect(isOutage(withCode('terminating connection due to administrator command', '57P01'))).toBe(true);
    expect(isOutage(withCode('the database system is starting up', '57P03'))).toBe(true);
    expect(isOutage(withCode('connection failure', '08006'))).toBe(true);
    expect(isOutage(withCode('sorry, too many clients already', '53300'))).toBe(true);
    expect(isOutage(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'))).toBe(true);
    expect(isOutage(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('is Temporal unavailable (gRPC 14), also as the cause of a client error', () => {
    const grpc = withCode('14 UNAVAILABLE: No connection established', 14);
    Object.assign(grpc, { metadata: {}, details: 'No connection established' });
    expect(isOutage(new Error('Failed to query workflow', { cause: grpc }))).toBe(true);
  });

  it('is a workflow whose task is being retried refusing an update (its worker was killed holding it)', () => {
    const message =
      '9 FAILED_PRECONDITION: Unable to perform workflow execution update due to Workflow Task in failed state.';
    const grpc = Object.assign(withCode(message, 9), {
      metadata: {},
      details: 'Workflow Task in failed state',
    });
    expect(isOutage(new Error('Workflow Update failed', { cause: grpc }))).toBe(true);
    const other = Object.assign(withCode('9 FAILED_PRECONDITION: something else', 9), {
      metadata: {},
      details: '',
    });
    expect(isOutage(other)).toBe(false);
  });

  it('is not a query error, a bug, or another gRPC refusal', () => {
    expect(isOutage(withCode('relation "x" does not exist', '42P01'))).toBe(false);
    expect(isOutage(new TypeError("Cannot read properties of undefined (reading 'x')"))).toBe(false);
    const notFound = Object.assign(withCode('5 NOT_FOUND', 5), { metadata: {}, details: '' });
    expect(isOutage(notFound)).toBe(false);
    expect(isOutage('a string')).toBe(false);
  });
});
