import { ApiError } from '@flotilla/api';
import { describe, expect, it } from 'vitest';
import { decodeContinue, encodeContinue } from './continue-token.js';

describe('continue token', () => {
  it('round-trips revision and start key', () => {
    const token = encodeContinue({ rv: 42, start: 'default/web-1\u0000' });
    expect(token).not.toContain('web-1');
    expect(decodeContinue(token)).toEqual({ rv: 42, start: 'default/web-1\u0000' });
  });

  it('rejects garbage with a 400 Status', () => {
    for (const bad of ['%%%', Buffer.from('{"v":"meta.k8s.io/v1","rv":-1,"start":"a"}').toString('base64'), Buffer.from('{"v":"meta.k8s.io/v1","rv":5,"start":"/etc"}').toString('base64'), Buffer.from('[]').toString('base64')]) {
      let caught: unknown;
      try {
        decodeContinue(bad);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ApiError);
      expect((caught as ApiError).code).toBe(400);
    }
  });
});
