export { grantWorkflow } from './grant.ts';
