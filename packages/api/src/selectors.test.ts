import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.js';
import { labelSelectorFromObject, parseFieldSelector, parseLabelSelector, selectorFromSet } from './selectors.js';

const web = { app: 'web', tier: 'frontend', env: 'prod' };

describe('parseLabelSelector', () => {
  it.each([
    ['', web, true],
    ['app=web', web, true],
    ['app==web', web, true],
    ['app=db', web, false],
    ['app!=db', web, true],
    ['app!=web', web, false],
    ['missing!=x', web, true],
    ['env in (prod,qa)', web, true],
    ['env in (qa)', web, false],
    ['env notin (dev, qa)', web, true],
    ['env notin (prod)', web, false],
    ['missing notin (prod)', web, true],
    ['tier', web, true],
    ['missing', web, false],
    ['!missing', web, true],
    ['!app', web, false],
    ['app=web,tier=frontend', web, true],
    ['app=web, tier=backend', web, false],
    [' app = web ', web, true],
    ['example.com/role=x', { 'example.com/role': 'x' }, true],
    ['n>3', { n: '5' }, true],
    ['n<3', { n: '5' }, false],
    ['app=', { app: '' }, true],
  ])('%j on %j → %s', (s, labels, want) => {
    expect(parseLabelSelector(s).matches(labels)).toBe(want);
  });

  it('treats undefined labels as none', () => {
    expect(parseLabelSelector('!a').matches(undefined)).toBe(true);
    expect(parseLabelSelector('a').matches()).toBe(false);
  });

  it('reports empty and prints a canonical form', () => {
    expect(parseLabelSelector('').empty).toBe(true);
    const s = parseLabelSelector('tier in (b,a), app==web,!x,y');
    expect(s.empty).toBe(false);
    expect(s.toString()).toBe('app=web,tier in (a,b),!x,y');
    expect(parseLabelSelector(s.toString()).toString()).toBe(s.toString());
  });

  it.each([
    'app=web,',
    ',app=web',
    'app in prod',
    'app in (a',
    'app in ()',
    'app=web=x',
    '!',
    'app >x',
    '=web',
    'app=-bad-',
    'Bad Key=x',
    'a/b/c=x',
    'app notin',
    '(app)',
  ])('rejects %j with a 400 explaining why', (s) => {
    let err: unknown;
    try {
      parseLabelSelector(s);
    } catch (e) {
      err = e;
    }
    expect(err, s).toBeInstanceOf(ApiError);
    expect((err as ApiError).reason).toBe('BadRequest');
    expect((err as ApiError).message).toMatch(/unable to parse requirement/);
  });
});

describe('labelSelectorFromObject', () => {
  it.each([
    [{ matchLabels: { app: 'web' } }, web, true],
    [{ matchLabels: { app: 'db' } }, web, false],
    [{ matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }] }, web, true],
    [{ matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, web, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, web, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, web, false],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['qa'] }] }, web, false],
    [{}, web, true],
  ] as const)('%j on web → %s', (sel, labels, want) => {
    expect(labelSelectorFromObject(sel as never).matches(labels)).toBe(want);
  });

  it('a missing selector matches nothing, {} matches everything', () => {
    expect(labelSelectorFromObject(undefined).matches(web)).toBe(false);
    expect(labelSelectorFromObject(undefined).empty).toBe(false);
    expect(labelSelectorFromObject({}).empty).toBe(true);
  });

  it('prints the string form the Scale subresource reports', () => {
    const s = labelSelectorFromObject({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['qa', 'prod'] }] });
    expect(s.toString()).toBe('app=web,env in (prod,qa)');
  });

  it.each([
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, /non-empty set of values/],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, /must not have values/],
    [{ matchExpressions: [{ key: 'a', operator: 'Equals', values: ['x'] }] }, /not a valid label selector operator/],
    [{ matchLabels: { 'bad key': 'x' } }, /key "bad key"/],
  ])('rejects %j', (sel, msg) => {
    expect(() => labelSelectorFromObject(sel as never)).toThrow(msg);
  });

  it('selectorFromSet matches supersets', () => {
    expect(selectorFromSet({ app: 'web' }).matches(web)).toBe(true);
    expect(selectorFromSet({}).empty).toBe(true);
  });
});

describe('parseFieldSelector', () => {
  const pod = { 'metadata.name': 'web-1', 'spec.nodeName': 'node-a', 'status.phase': 'Running' };
  it.each([
    ['', true],
    ['metadata.name=web-1', true],
    ['metadata.name==web-1', true],
    ['metadata.name!=web-1', false],
    ['spec.nodeName=node-a,status.phase!=Succeeded', true],
    ['spec.nodeName=', false],
    ['spec.nodeName!=', true],
    ['spec.unknown=', true],
  ])('%j → %s', (s, want) => {
    expect(parseFieldSelector(s).matches(pod)).toBe(want);
  });

  it('exposes requirements and handles escapes', () => {
    expect(parseFieldSelector('a=b, c!=d').requirements).toEqual([
      { field: 'a', op: '=', value: 'b' },
      { field: 'c', op: '!=', value: 'd' },
    ]);
    const s = parseFieldSelector('a=x\\,y');
    expect(s.requirements).toEqual([{ field: 'a', op: '=', value: 'x,y' }]);
    expect(s.toString()).toBe('a=x\\,y');
  });

  it.each(['nonsense', 'a=b,c', '=x', 'a=\\q'])('rejects %j as a 400', (s) => {
    expect(() => parseFieldSelector(s)).toThrow(ApiError);
  });
});
