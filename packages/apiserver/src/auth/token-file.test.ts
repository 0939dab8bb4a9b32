import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TokenAuthenticator, bearerToken, parseTokenFile } from './token-file.js';

const FILE = [
  '# admin and a node',
  'admintoken,admin,uid-1,"system:masters"',
  'nodetoken,system:node:n1,uid-2,"system:nodes,extra"',
  '',
  'plaintoken,alice,uid-3',
  'quoted,"bob ""the"" builder",uid-4,""',
].join('\n');

describe('parseTokenFile', () => {
  it('reads the Kubernetes token,user,uid,"groups" format', () => {
    expect(parseTokenFile(FILE)).toEqual([
      { token: 'admintoken', user: { name: 'admin', uid: 'uid-1', groups: ['system:masters'] } },
      { token: 'nodetoken', user: { name: 'system:node:n1', uid: 'uid-2', groups: ['system:nodes', 'extra'] } },
      { token: 'plaintoken', user: { name: 'alice', uid: 'uid-3', groups: [] } },
      { token: 'quoted', user: { name: 'bob "the" builder', uid: 'uid-4', groups: [] } },
    ]);
  });

  it.each([
    ['too few columns', 'tok,user', /tokens\.csv:2: need at least 3 columns, found 2/],
    ['unquoted groups', 'tok,user,uid,g1,g2', /tokens\.csv:2: found 5 columns; quote the group list/],
    ['unterminated quote', 'tok,user,uid,"g1,g2', /tokens\.csv:2: unterminated quoted field/],
    ['empty token', ',user,uid', /tokens\.csv:2: empty token/],
    ['empty user', 'tok,,uid', /tokens\.csv:2: empty user name/],
    ['token with space', 'to k,user,uid', /tokens\.csv:2: token contains whitespace/],
    ['duplicate token', 'a,admin,1', /tokens\.csv:2: token already used on line 1/],
  ])('names the file and line for %s', (_, line, err) => {
    expect(() => parseTokenFile(`a,admin,1\n${line}\n`, 'tokens.csv')).toThrow(err);
  });
});

describe('bearerToken', () => {
  it.each([
    [{ authorization: 'Bearer abc' }, 'abc'],
    [{ authorization: 'bearer abc' }, 'abc'],
    [{}, undefined],
    [{ authorization: 'Bearer' }, undefined],
    [{ authorization: 'Bearer ' }, undefined],
    [{ authorization: 'Basic YWRtaW46eA==' }, undefined],
    [{ authorization: 'Bearer a b' }, undefined],
    [{ authorization: ['Bearer a', 'Bearer b'] }, undefined],
  ])('%j → %s', (headers, want) => {
    expect(bearerToken(headers)).toBe(want);
  });
});

describe('TokenAuthenticator', () => {
  const auth = new TokenAuthenticator(parseTokenFile(FILE));

  it('maps a known token to its user, adding system:authenticated', () => {
    expect(auth.authenticate({ authorization: 'Bearer nodetoken' })).toEqual({
      name: 'system:node:n1', uid: 'uid-2', groups: ['system:nodes', 'extra', 'system:authenticated'],
    });
    expect(auth.size).toBe(4);
  });

  it('rejects unknown, prefix and missing tokens', () => {
    expect(auth.authenticate({ authorization: 'Bearer admintoke' })).toBeUndefined();
    expect(auth.authenticate({ authorization: 'Bearer admintokenX' })).toBeUndefined();
    expect(auth.authenticate({ authorization: 'Bearer nope' })).toBeUndefined();
    expect(auth.authenticate({})).toBeUndefined();
  });

  it('hands out copies, so a caller cannot change later identities', () => {
    auth.authenticate({ authorization: 'Bearer admintoken' })!.groups.push('evil');
    expect(auth.authenticate({ authorization: 'Bearer admintoken' })!.groups).not.toContain('evil');
  });

  it('loads from a file and names the file in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flotilla-tokens-'));
    try {
      const good = join(dir, 'good.csv');
      await writeFile(good, FILE);
      expect((await TokenAuthenticator.fromFile(good)).authenticate({ authorization: 'Bearer plaintoken' })?.name).toBe('alice');
      const bad = join(dir, 'bad.csv');
      await writeFile(bad, 'a,b,c\nbroken\n');
      await expect(TokenAuthenticator.fromFile(bad)).rejects.toThrow(`${bad}:2: need at least 3 columns`);
      await expect(TokenAuthenticator.fromFile(join(dir, 'missing.csv'))).rejects.toThrow(/cannot read token file .*missing\.csv/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
