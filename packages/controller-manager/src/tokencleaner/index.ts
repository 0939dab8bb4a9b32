export { TokenCleanerController, tokenExpiration, BOOTSTRAP_TOKEN_NAMESPACE, BOOTSTRAP_TOKEN_SECRET_TYPE } from './tokencleaner-controller.js';
