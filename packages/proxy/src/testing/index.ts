export { FakeIptables } from './fake-iptables.js';
