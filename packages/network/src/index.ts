export {
  cidrContains,
  cidrSize,
  cidrsOverlap,
  formatCidr,
  formatIpv4,
  mustParseCidr,
  nthAddress,
  parseCidr,
  parseIpv4,
  subnets,
  type Ipv4Cidr,
} from './cidr.js';
