import type { Payload } from '@temporalio/common';
import { ApplicationFailure, log, type WorkflowInterceptors } from '@temporalio/workflow';
import { UNENCRYPTED_ENCODING, UNENCRYPTED_FAILURE_TYPE } from '../lib/payload-converter.cjs';

const refused = (payloads: Payload[] | null | undefined) =>
  !!payloads?.some((p) => {
    const encoding = p.metadata?.encoding;
    return !!encoding && new TextDecoder().decode(encoding) === UNENCRYPTED_ENCODING;
  });

/**
 * Where a worker's codec marked a payload as unencrypted (lib/payload-codec.ts). An update with
 * one is rejected by the payload converter before it is accepted; a start or a signal would make
 * the converter throw outside any handler and fail the workflow task on every retry, so they are
 * stopped here first: the start fails the workflow before it does anything, the signal is dropped.
 */
export const interceptors = (): WorkflowInterceptors => {
  let startRefused = false;
  return {
    internals: [
      {
        activate(input, next) {
          const jobs = input.activation.jobs ?? [];
          const start = jobs[0]?.initializeWorkflow;
          if (start && refused(start.arguments)) {
            startRefused = true;
            start.arguments = [];
          }
          for (let i = jobs.length - 1; i >= 0; i--) {
            const signal = jobs[i]!.signalWorkflow;
            if (signal && refused(signal.input)) {
              log.warn('dropped a signal whose arguments were not encrypted', { signal: signal.signalName });
              jobs.splice(i, 1);
            }
          }
          next(input);
        },
      },
    ],
    inbound: [
      {
        async execute(input, next) {
          if (startRefused) {
            throw ApplicationFailure.nonRetryable(
              'refused a start whose input was not encrypted with PAYLOAD_CODEC_KEYS',
              UNENCRYPTED_FAILURE_TYPE,
            );
          }
          return next(input);
        },
      },
    ],
  };
};
