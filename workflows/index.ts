export { grantWorkflow } from './grant';
