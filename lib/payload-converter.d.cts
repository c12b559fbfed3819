import type { PayloadConverter } from '@temporalio/common';

export declare const UNENCRYPTED_ENCODING: string;
export declare const UNENCRYPTED_FAILURE_TYPE: string;
export declare const payloadConverter: PayloadConverter;
