// The payload converter of every worker and workflow sandbox of this service: Temporal's default
// converters, plus one for the payloads a worker's codec marks as having arrived unencrypted
// (lib/payload-codec.ts). Converting such a payload throws: the SDK then rejects an update before
// it is accepted, and fails an activity. A start or a signal must not get this far, since a throw
// there fails the workflow task again on every retry: workflows/refuse-unencrypted.ts stops them.
//
// CommonJS JavaScript on purpose: the SDK loads it by path with require() (worker) and webpack
// (workflow bundle), and plain require() cannot load TypeScript under vitest.
const {
  ApplicationFailure,
  CompositePayloadConverter,
  defaultPayloadConverter,
} = require('@temporalio/common');

const UNENCRYPTED_ENCODING = 'binary/refused-unencrypted';

exports.UNENCRYPTED_ENCODING = UNENCRYPTED_ENCODING;
exports.UNENCRYPTED_FAILURE_TYPE = 'UnencryptedPayload';

exports.payloadConverter = new CompositePayloadConverter(...defaultPayloadConverter.converters, {
  encodingType: UNENCRYPTED_ENCODING,
  // Never chosen to encode a value: only the codec produces this encoding.
  toPayload: () => undefined,
  fromPayload: () => {
    throw ApplicationFailure.nonRetryable(
      'refused a payload not encrypted with PAYLOAD_CODEC_KEYS: only holders of the codec key may drive a grant',
      exports.UNENCRYPTED_FAILURE_TYPE,
    );
  },
});
