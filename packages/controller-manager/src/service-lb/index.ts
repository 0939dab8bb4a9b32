export { desiredIngress, ServiceLBController, type LoadBalancerIngress } from './service-lb-controller.js';
