import { ApiError } from '@flotilla/api';
import { NetworkError } from '@flotilla/client';
import { describe, expect, it } from 'vitest';
import { retryReason } from './retry-reason.js';

describe('retryReason', () => {
  it('names an API error by its reason and a network error by its code, without the request line or what is in parentheses', () => {
    const timedOut = (pod: string) => retryReason(new ApiError('ServiceUnavailable', `etcd is unavailable (create /bench-1/pods/bench/${pod}): 4`));
    expect(timedOut('p-1')).toBe('ServiceUnavailable: etcd is unavailable: 4');
    expect(timedOut('p-2')).toBe(timedOut('p-1')); // one count for every pod
    const cause = Object.assign(new Error('Connect Timeout Error (attempted address: 127.0.0.1:6443, timeout: 10000ms)'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
    expect(retryReason(new NetworkError('POST', '/api/v1/namespaces/bench/pods', cause))).toBe('UND_ERR_CONNECT_TIMEOUT: Connect Timeout Error');
  });
});
