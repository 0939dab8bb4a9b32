export { CsrSigningController, type CsrSigningOptions } from './csr-signing-controller.js';
export { autoApprovable, kubeletClientProblem, type ParsedRequest } from './csr-checks.js';
