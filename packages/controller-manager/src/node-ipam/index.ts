export {
  claimName,
  DEFAULT_CLUSTER_CIDR,
  DEFAULT_NODE_CIDR_MASK_SIZE,
  NodeIpamController,
  POD_CIDR_CLAIM_LABEL,
  POD_CIDR_CLAIM_NODE_UID,
  POD_CIDR_CLAIM_RANGE,
  type NodeIpamOptions,
} from './node-ipam-controller.js';
