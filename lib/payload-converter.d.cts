import type { Payload, PayloadConverter } from '@temporalio/common';

export declare const UNENCRYPTED_ENCODING: string;
export declare const REFUSED_ENCODING: string;
export declare const UNENCRYPTED_FAILURE_TYPE: string;
export declare const payloadConverter: PayloadConverter;
export declare function markerPayload(encoding: string): Payload;
export declare function isMarker(payload: Payload, encoding: string): boolean;
