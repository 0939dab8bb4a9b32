import { describe, expect, it } from 'vitest';
import { requestLogLevel } from './server.js';

describe('requestLogLevel', () => {
  it('keeps routine reads at debug and writes, client errors, slow requests and failures visible', () => {
    expect(requestLogLevel('GET', 200, 0.01)).toBe('debug');
    expect(requestLogLevel('GET', 404, 0.01)).toBe('debug');
    expect(requestLogLevel('GET', 403, 0.01)).toBe('info');
    expect(requestLogLevel('GET', 200, 1.5)).toBe('info');
    expect(requestLogLevel('POST', 201, 0.01)).toBe('info');
    expect(requestLogLevel('DELETE', 404, 0.01)).toBe('info');
    expect(requestLogLevel('PUT', 409, 0.01)).toBe('info');
    expect(requestLogLevel('GET', 503, 0.01)).toBe('error');
  });
});
