export { FakeIptables } from './fake-iptables.js';
export { FakeConntrack } from './fake-conntrack.js';
