// The payload converter of every worker and workflow sandbox of this service: Temporal's default
// converters, plus two for the payloads a worker's codec marks as having arrived unencrypted
// (lib/payload-codec.ts):
//
// - refused: converting it throws, so the SDK rejects an update before it is accepted and fails
//   an activity. Activity input is marked so at once.
// - unencrypted (inside a workflow): converts to an inert placeholder. The SDK converts a start's
//   memo before any interceptor runs, where a throw would fail the workflow task on every retry;
//   workflows/refuse-unencrypted.ts fails such a start, drops such a signal and turns such an
//   update's input into a refused payload.
//
// CommonJS JavaScript on purpose: the SDK loads it by path with require() (worker) and webpack
// (workflow bundle), and plain require() cannot load TypeScript under vitest.
const {
  ApplicationFailure,
  CompositePayloadConverter,
  defaultPayloadConverter,
} = require('@temporalio/common');
const { decode, encode } = require('@temporalio/common/lib/encoding');

const UNENCRYPTED_ENCODING = 'binary/unencrypted';
const REFUSED_ENCODING = 'binary/unencrypted-refused';
const UNENCRYPTED_FAILURE_TYPE = 'UnencryptedPayload';

/** Only the codec produces these encodings: neither converter is ever chosen to encode a value. */
const marker = (encodingType, fromPayload) => ({ encodingType, toPayload: () => undefined, fromPayload });

exports.UNENCRYPTED_ENCODING = UNENCRYPTED_ENCODING;
exports.REFUSED_ENCODING = REFUSED_ENCODING;
exports.UNENCRYPTED_FAILURE_TYPE = UNENCRYPTED_FAILURE_TYPE;
/** A payload of one of the encodings above. */
exports.markerPayload = (encoding) => ({ metadata: { encoding: encode(encoding) } });
/** Whether a payload is a marker of `encoding`. */
exports.isMarker = (payload, encoding) => {
  const bytes = payload.metadata && payload.metadata.encoding;
  return !!bytes && decode(bytes) === encoding;
};

exports.payloadConverter = new CompositePayloadConverter(
  ...defaultPayloadConverter.converters,
  marker(UNENCRYPTED_ENCODING, () => Object.freeze({ unencrypted: true })),
  marker(REFUSED_ENCODING, () => {
    throw ApplicationFailure.nonRetryable(
      'refused a payload not encrypted with PAYLOAD_CODEC_KEYS: only holders of the codec key may drive a grant',
      UNENCRYPTED_FAILURE_TYPE,
    );
  }),
);
