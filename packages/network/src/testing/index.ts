export { FakeRouteTable } from './fake-route-table.js';
