export { grantWorkflow } from './grant.ts';
export { webhookDeliveryWorkflow } from './webhook-delivery.ts';
