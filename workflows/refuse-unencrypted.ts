import type { Payload } from '@temporalio/common';
import { ApplicationFailure, log, type WorkflowInterceptors } from '@temporalio/workflow';
import {
  isMarker,
  markerPayload,
  REFUSED_ENCODING,
  UNENCRYPTED_ENCODING,
  UNENCRYPTED_FAILURE_TYPE,
} from '../lib/payload-converter.cjs';

const unencrypted = (payloads: Payload[] | null | undefined) =>
  !!payloads?.some((p) => isMarker(p, UNENCRYPTED_ENCODING));

/**
 * Judges the payloads a worker's codec marked as unencrypted (lib/payload-codec.ts) before the
 * SDK converts them: an update's input becomes a refused payload, so the update is rejected
 * before it is accepted; a start fails its workflow before the workflow runs; a signal is dropped.
 * A throw while converting a start's input or a signal's would instead fail the workflow task on
 * every retry.
 */
export const interceptors = (): WorkflowInterceptors => {
  let startRefused = false;
  return {
    internals: [
      {
        activate(input, next) {
          const jobs = input.activation.jobs ?? [];
          const start = jobs[0]?.initializeWorkflow;
          if (start && unencrypted(start.arguments)) {
            startRefused = true;
            start.arguments = [];
          }
          for (let i = jobs.length - 1; i >= 0; i--) {
            const { signalWorkflow: signal, doUpdate: update } = jobs[i]!;
            if (signal && unencrypted(signal.input)) {
              log.warn('dropped a signal whose arguments were not encrypted', { signal: signal.signalName });
              jobs.splice(i, 1);
            }
            if (update && unencrypted(update.input)) update.input = [markerPayload(REFUSED_ENCODING)];
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
