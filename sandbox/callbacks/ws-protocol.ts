import protobuf from 'protobufjs';

/**
 * `pbbp2.Frame`, the long connection's envelope, rebuilt from its schema because the SDK does not
 * export its codec. proto2 `required` matters: the SDK's decoder throws on a frame missing any of
 * the four numeric fields, and a required field is encoded even when it is zero.
 */
const Header = new protobuf.Type('Header')
  .add(new protobuf.Field('key', 1, 'string', 'required'))
  .add(new protobuf.Field('value', 2, 'string', 'required'));

const FrameType = new protobuf.Type('Frame')
  .add(new protobuf.Field('SeqID', 1, 'uint64', 'required'))
  .add(new protobuf.Field('LogID', 2, 'uint64', 'required'))
  .add(new protobuf.Field('service', 3, 'int32', 'required'))
  .add(new protobuf.Field('method', 4, 'int32', 'required'))
  .add(new protobuf.Field('headers', 5, 'Header', 'repeated'))
  .add(new protobuf.Field('payloadEncoding', 6, 'string', 'optional'))
  .add(new protobuf.Field('payloadType', 7, 'string', 'optional'))
  .add(new protobuf.Field('payload', 8, 'bytes', 'optional'))
  .add(new protobuf.Field('LogIDNew', 9, 'string', 'optional'));

new protobuf.Root().define('pbbp2').add(Header).add(FrameType);

export const METHOD_CONTROL = 0;
export const METHOD_DATA = 1;

export interface Frame {
  SeqID: number;
  LogID: number;
  service: number;
  method: number;
  headers: Array<{ key: string; value: string }>;
  payload?: Uint8Array;
}

export const encodeFrame = (frame: Frame): Uint8Array =>
  FrameType.encode(FrameType.fromObject(frame)).finish();

export function decodeFrame(bytes: Uint8Array): Frame {
  const decoded = FrameType.toObject(FrameType.decode(bytes), { longs: Number, defaults: true }) as Frame;
  return { ...decoded, headers: decoded.headers ?? [] };
}

export const header = (frame: Frame, key: string): string | undefined =>
  frame.headers.find((h) => h.key === key)?.value;
