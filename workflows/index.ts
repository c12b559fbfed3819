export { grantWorkflow } from './grant.ts';
export { webhookDeliveryWorkflow } from './webhook-delivery.ts';
export { authorizationBatchWorkflow } from './batch.ts';
export { feishuCallbackWorkflow } from './callback.ts';
