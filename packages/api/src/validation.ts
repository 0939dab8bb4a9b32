/** Validation of every kind (placeholders until the rules land in the next commit). */
import type { FieldError } from './errors.js';
import type { KubeObject } from './meta.js';

const none = (_obj: KubeObject, _old?: KubeObject): FieldError[] => [];
/** Validates a Namespace. */
export const validateNamespace = none;
/** Validates a Node. */
export const validateNode = none;
/** Validates a Pod. */
export const validatePod = none;
/** Validates a ReplicaSet. */
export const validateReplicaSet = none;
/** Validates a Deployment. */
export const validateDeployment = none;
/** Validates a Service. */
export const validateService = none;
/** Validates an Endpoints. */
export const validateEndpoints = none;
/** Validates an Ingress. */
export const validateIngress = none;
/** Validates an Event. */
export const validateEvent = none;
/** Validates a Lease. */
export const validateLease = none;
