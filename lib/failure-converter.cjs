// The failure converter of every worker, workflow sandbox and client of this service. Failure
// messages and stack traces move into an encoded attribute, so the payload codec encrypts them
// like any other payload instead of leaving them in plaintext in the history.
//
// CommonJS JavaScript on purpose: the SDK loads it by path with require() (worker, clients) and
// webpack (workflow bundle), and plain require() cannot load TypeScript under vitest.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
