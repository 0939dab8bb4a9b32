/** The proxy tests' environment lives in @flotilla/e2e (the network benchmark uses it too). */
export { httpGet, ProxyProcess, removeRootRules, startServiceEnv, type EchoAnswer, type ServiceEnv, type ServiceEnvOptions } from '@flotilla/e2e';
