import { ApiError } from '@flotilla/api';
import { NetworkError } from '@flotilla/client';
import { describe, expect, it } from 'vitest';
import { retryReason } from './retry-reason.js';

describe('retryReason', () => {
  it('names an API error by its reason and a network error by its code, without the request line', () => {
    expect(retryReason(new ApiError('ServiceUnavailable', 'etcd request timed out (create pods/bench/p-1): DEADLINE_EXCEEDED'))).toBe('ServiceUnavailable: etcd request timed out (create pods/bench/p-1):');
    const cause = Object.assign(new Error('Connect Timeout Error (attempted address: 127.0.0.1:6443, timeout: 10000ms)'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
    expect(retryReason(new NetworkError('POST', '/api/v1/namespaces/bench/pods', cause))).toBe('UND_ERR_CONNECT_TIMEOUT: Connect Timeout Error (attempted address: 127.0.0.1:6443,');
  });
});
